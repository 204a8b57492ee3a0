"""Control endpoints for the tests only (`__test/…`, no authentication):
never route anything like these in a real server."""

from django.contrib.auth import get_user_model
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from peer import counters


class Unauthenticated(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]


class UserSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)


class UsersView(Unauthenticated):
    """Creates a user, or resets the password of an existing one: 201."""

    def post(self, request):
        body = UserSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user, _ = get_user_model().objects.get_or_create(username=body.validated_data["username"])
        user.set_password(body.validated_data["password"])
        user.save()
        return Response({"username": user.get_username()}, status=status.HTTP_201_CREATED)


class CountsView(Unauthenticated):
    def get(self, request):
        return Response(counters.snapshot())


class ResetView(Unauthenticated):
    def post(self, request):
        counters.reset()
        return Response(status=status.HTTP_204_NO_CONTENT)
