"""Web Push (M11): the server's VAPID key pair and each member's browser subscriptions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from plug2support.accounts.models import Company


class VapidKey(models.Model):
    """One row, made at first use (push/keys.py): the key pair the push services know this
    server by. Kept in the database so every web and worker process signs with the same one,
    and a restart does not invalidate every browser's subscription."""

    private_pem = models.TextField()
    public_key = models.CharField(max_length=100)  # base64url of the uncompressed P-256 point
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"VAPID key {self.pk}"


class PushSubscription(models.Model):
    """A browser's PushSubscription for one member of one company (push/subscriptions.py)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000)
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "user", "endpoint"],
                                               name="push_subscription_once")]
        indexes = [models.Index(fields=["company", "user"])]

    def __str__(self) -> str:
        return f"push for {self.user_id} in {self.company_id}"
