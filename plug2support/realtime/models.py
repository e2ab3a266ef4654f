"""Open console sockets, one row each, so presence counts every tab on every process (C5)."""

from __future__ import annotations

import uuid

from django.db import models

from plug2support.accounts.models import Membership


class ConsoleConnection(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE,
                                   related_name="connections")
    # The web process holding the socket: its heartbeat keeps `seen_at` fresh; a process
    # that dies stops refreshing, and its rows stop counting after PRESENCE_STALE_SECONDS.
    process = models.CharField(max_length=80, db_index=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The conversation this console shows while its window has the focus (the `focus`
    # frame), else null: Web Push skips an alert about it (push/sending.py). An id, not a
    # foreign key: this layer sits below conversations.
    focused_conversation = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.membership_id} on {self.process}"
