"""Per-device opaque tokens on knox, with Notechondria's wire shapes (seeds 000/001).

Every knox token is minted here together with its DeviceSession, whose
integer id is what clients list and revoke. Keys and digests never leave
the server, except the token handed out once at login or password change.
"""

from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from knox.models import AuthToken
from knox.views import LogoutAllView as KnoxLogoutAllView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework import serializers, status
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from peer.auth import DeviceTokenAuthentication
from peer.jwt_views import AlwaysDeny
from peer.models import DeviceSession

INVALID_CREDENTIALS = {"detail": "Invalid credentials."}
_when = serializers.DateTimeField().to_representation


def device_label(user_agent):
    """A crude guess at the device from its User-Agent."""
    for needle, label in [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Macintosh", "Mac"),
        ("Windows", "Windows"),
        ("Linux", "Linux"),
    ]:
        if needle in user_agent:
            return label
    return "Unknown device"


def active_sessions(user):
    now = timezone.now()
    return DeviceSession.objects.filter(token__user=user).filter(
        Q(token__expiry__gt=now) | Q(token__expiry__isnull=True)
    )


def session_json(session):
    return {
        "id": session.id,
        "device_label": session.device_label,
        "created_at": _when(session.created_at),
        "last_seen_at": _when(session.last_seen_at),
    }


def user_json(user):
    return {"username": user.get_username()}


def mint(request, user, label):
    """A new knox token and its session; the login-shaped answer."""
    user_agent = request.headers.get("User-Agent", "")
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user=user)
        session = DeviceSession.objects.create(
            token=instance, device_label=label or device_label(user_agent), user_agent=user_agent[:500]
        )
    others = active_sessions(user).exclude(pk=session.pk).count()
    return {
        "token": token,
        "expiry": _when(instance.expiry) if instance.expiry else None,
        "session": session_json(session),
        "multi_device": others > 0,
        "other_sessions_count": others,
        "user": user_json(user),
    }


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)
    device_label = serializers.CharField(required=False, max_length=100)


class LoginView(APIView):
    """`{"username","password"[,"device_label"]}` -> a new token for a new device."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        body = LoginSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(request, username=body.validated_data["username"], password=body.validated_data["password"])
        if user is None:
            return Response(INVALID_CREDENTIALS, status=status.HTTP_400_BAD_REQUEST)
        return Response(mint(request, user, body.validated_data.get("device_label")))


class SessionProbeView(APIView):
    """Always 200: is the `Authorization: Token <key>` this caller holds still good?

    Deliberate deviation from seed 001: a valid answer does not echo the token
    key back; the client already has it.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"token":
            return Response({"authenticated": False})
        try:
            user, token = DeviceTokenAuthentication().authenticate_credentials(parts[1])
        except (AuthenticationFailed, UnicodeDecodeError):
            return Response({"authenticated": False})
        session = DeviceSession.objects.get(token=token)
        return Response(
            {
                "authenticated": True,
                "user": user_json(user),
                "session": session_json(session),
                "expiry": _when(token.expiry) if token.expiry else None,
            }
        )


class KnoxAuthenticated(APIView):
    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [IsAuthenticated]


class SessionListView(KnoxAuthenticated):
    def get(self, request):
        rows = active_sessions(request.user).order_by("id")
        return Response([{**session_json(s), "is_current": s.token_id == request.auth.pk} for s in rows])


class SessionRevokeView(KnoxAuthenticated):
    """Deletes one of the caller's sessions (its token with it); others' are 404."""

    def delete(self, request, session_id):
        session = active_sessions(request.user).filter(pk=session_id).select_related("token").first()
        if session is None:
            raise NotFound()
        session.token.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutView(KnoxLogoutView):
    """Revokes the caller's token only (204)."""

    authentication_classes = [DeviceTokenAuthentication]


class LogoutAllView(KnoxLogoutAllView):
    """Revokes every token of the caller's user (204)."""

    authentication_classes = [DeviceTokenAuthentication]


class PasswordSerializer(serializers.Serializer):
    old_password = serializers.CharField(trim_whitespace=False)
    new_password = serializers.CharField(trim_whitespace=False)


class PasswordView(KnoxAuthenticated):
    """Changes the password, revokes every session, and answers like login
    with a fresh token for this device (same label)."""

    def post(self, request):
        body = PasswordSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user
        if not user.check_password(body.validated_data["old_password"]):
            return Response(INVALID_CREDENTIALS, status=status.HTTP_400_BAD_REQUEST)
        label = DeviceSession.objects.get(token=request.auth).device_label
        with transaction.atomic():
            user.set_password(body.validated_data["new_password"])
            user.save(update_fields=["password"])
            user.auth_token_set.all().delete()
        return Response(mint(request, user, label))


class MeView(KnoxAuthenticated):
    def get(self, request):
        return Response(user_json(request.user))


class ForbiddenView(KnoxAuthenticated):
    permission_classes = [AlwaysDeny]

    def get(self, request):
        return Response({})
