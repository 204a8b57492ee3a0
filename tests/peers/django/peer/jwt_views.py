"""simplejwt endpoints beyond the stock views, and the JWT-protected resources.

The stock TokenObtainPairView, TokenRefreshView and TokenBlacklistView are
routed as they are (urls.py). The two extra refresh endpoints take the
refresh token from elsewhere and hand it to the same serializer, so their
answers are simplejwt's own.
"""

from rest_framework import status
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import APIException, NotAuthenticated
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.views import TokenRefreshView


class _RefreshFrom(TokenRefreshView):
    """TokenRefreshView with the token taken from `refresh_token(request)`."""

    def refresh_token(self, request):
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data={"refresh": self.refresh_token(request)})
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as e:
            raise InvalidToken(e.args[0]) from e
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


class RefreshBearerView(_RefreshFrom):
    """`Authorization: Bearer <refresh>` with an empty body (seed 002's fixed backend).

    No header answers 401 `not_authenticated`, like a missing access token.
    """

    def refresh_token(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            raise NotAuthenticated()
        return parts[1].decode("latin-1")


class RefreshQueryView(_RefreshFrom):
    """FastAPI's bare `refresh_token: str` parameter (seed 002's broken backend):
    the token must be in the query string, and without it FastAPI answers 422.
    """

    def refresh_token(self, request):
        token = request.query_params.get("refresh_token")
        if token is None:
            raise QueryFieldMissing("refresh_token")
        return token


class QueryFieldMissing(APIException):
    """FastAPI's 422 for a missing required query parameter."""

    status_code = 422

    def __init__(self, name):
        super().__init__({"detail": [{"loc": ["query", name], "msg": "field required", "type": "value_error.missing"}]})


class MeView(APIView):
    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"username": request.user.get_username()})


class AlwaysDeny(BasePermission):
    """DRF then answers 403 to authenticated callers, 401 to anonymous ones."""

    def has_permission(self, request, view):
        return False


class ForbiddenView(APIView):
    authentication_classes = [JWTAuthentication]
    permission_classes = [AlwaysDeny]

    def get(self, request):
        return Response({})
