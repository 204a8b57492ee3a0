"""knox token authentication that also records when each device was last seen."""

from django.utils import timezone
from knox.auth import TokenAuthentication

from peer.models import DeviceSession


class DeviceTokenAuthentication(TokenAuthentication):
    """knox's `Authorization: Token <key>`; a valid token touches its DeviceSession."""

    def authenticate_credentials(self, token):
        user, auth_token = super().authenticate_credentials(token)
        DeviceSession.objects.filter(token=auth_token).update(last_seen_at=timezone.now())
        return user, auth_token
