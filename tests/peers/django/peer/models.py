"""Per-device session metadata for knox tokens.

knox's AuthToken is keyed by the token's digest, which must never reach a
client, so the id a client sees (and revokes by) lives here.
"""

from django.db import models
from django.utils import timezone
from knox.models import AuthToken


class DeviceSession(models.Model):
    token = models.OneToOneField(AuthToken, on_delete=models.CASCADE, related_name="device_session")
    device_label = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
