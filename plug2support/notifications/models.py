"""Console notifications (I1): a live list with an unread count, per person and company."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from plug2support.accounts.models import Company


class Notification(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    url = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "company", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class AlertPreferences(models.Model):
    """C1 (issue 18, point 8): what one member wants for each kind of event, by channel
    (sound, desktop, email); notifications/alerts.py has the kinds and the defaults. A row
    only once the member changed something: the defaults need none."""

    membership = models.OneToOneField("accounts.Membership", on_delete=models.CASCADE,
                                      related_name="alert_preferences")
    choices = models.JSONField(default=dict)  # {kind: {channel: bool}}, only what was set
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"alerts of {self.membership_id}"
