"""Saved replies (SPEC M1, issue 18 point 1): text the team inserts with `/` in the composer.

A reply is the company's (`owner` NULL: every member uses it, owners and admins manage it) or
one operator's own (`owner` set: only they see, use and manage it). A shortcut names one reply
among those an operator sees: unique among the company's, unique among each person's own, and
a personal one may not take a company one's (actions.check_shortcut_free), so `/thanks` never
means two things to anyone.

Its files are kept here, not as attachments: an attachment is one message's file, and an
upload no message carries is deleted within a day (attachments/actions.do_delete_unattached).
Using the reply copies each file into a new upload of the operator (actions.do_use_saved_reply),
which the message that sends it then carries like any other."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from plug2support.accounts.models import Company
from plug2support.attachments.models import attachment_path


class SavedReply(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="saved_replies")
    # NULL: the company's reply. Set: that operator's own.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True,
                              blank=True, related_name="+")
    title = models.CharField(max_length=100)
    shortcut = models.CharField(max_length=32)
    body = models.TextField()  # Markdown, with {{variables}} (variables.py)
    usage_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "pk"]
        verbose_name_plural = "saved replies"
        constraints = [
            models.UniqueConstraint(fields=["company", "shortcut"], condition=Q(owner=None),
                                    name="one_company_reply_per_shortcut"),
            models.UniqueConstraint(fields=["company", "owner", "shortcut"],
                                    condition=Q(owner__isnull=False),
                                    name="one_personal_reply_per_shortcut"),
        ]
        indexes = [models.Index(fields=["company", "owner", "usage_count"],
                                name="saved_replies_by_use")]

    def __str__(self) -> str:
        return f"/{self.shortcut} {self.title}"

    @property
    def scope(self) -> str:
        return "company" if self.owner_id is None else "personal"


def reply_file_path(instance: SavedReplyFile, filename: str) -> str:
    """saved-replies/<company id>/<random>/<ASCII name>, named as attachments are."""
    path = attachment_path(instance, filename)  # type: ignore[arg-type]  # uses company_id
    return "saved-replies/" + path.removeprefix("attachments/")


class SavedReplyFile(models.Model):
    """A file sent with a saved reply: checked like any upload (lib/uploads.check_upload)."""

    saved_reply = models.ForeignKey(SavedReply, on_delete=models.CASCADE, related_name="files")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to=reply_file_path, max_length=255)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    is_image = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name
