"""Files sent with messages (C4). Uploaded first, then attached to the message that carries
them; the stored type is the one detected from the bytes, never the one the client claimed."""

from __future__ import annotations

import re
import unicodedata
import uuid

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import models
from django.utils.text import get_valid_filename

from plug2support.accounts.models import Company
from plug2support.widgets.models import Visitor


def attachment_path(instance: Attachment, filename: str) -> str:
    """attachments/<company id>/<random>/<ASCII name>: the random part makes the path
    unguessable and unique, so two uploads of the same name never meet."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    stem, dot, ext = ascii_name.rpartition(".")
    if not dot:
        stem, ext = ext, ""
    try:
        safe = get_valid_filename(stem)[:80].strip("._") or "file"
    except SuspiciousFileOperation:  # a name that ends up empty, "." or ".."
        safe = "file"
    safe_ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:10]
    if safe_ext:
        safe = f"{safe}.{safe_ext}"
    return f"attachments/{instance.company_id}/{uuid.uuid4().hex}/{safe}"


class Attachment(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="attachments")
    # NULL until the message that carries it is stored (actions.do_attach).
    # Named, not imported: attachments sit below conversations (docs/architecture.md, Layers).
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE,
                                     null=True, blank=True, related_name="attachments")
    event = models.ForeignKey("conversations.Event", on_delete=models.CASCADE, null=True,
                              blank=True, related_name="attachments")
    # Exactly one of the two: who uploaded it.
    uploaded_by_visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, null=True,
                                            blank=True, related_name="attachments")
    uploaded_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                         null=True, blank=True, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=255)
    name = models.CharField(max_length=200)  # the uploader's name for it, sanitized
    content_type = models.CharField(max_length=100)  # detected from the content
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Only PNG, JPEG, GIF and WebP: shown inline. Everything else is downloaded.
    is_image = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["company", "created_at"]),
            models.Index(fields=["conversation", "event"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(uploaded_by_visitor__isnull=False,
                                    uploaded_by_user__isnull=False),
                name="attachment_has_one_uploader"),
        ]

    def __str__(self) -> str:
        return self.name
