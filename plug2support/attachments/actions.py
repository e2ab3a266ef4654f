"""The only code that changes attachments: check_* validates, do_* writes.

An attachment is uploaded on its own (the upload checks size and type) and then attached to
the message that carries it, in the same transaction that stores the message. An upload
never attached is removed by do_delete_unattached.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from plug2support.accounts.models import Membership, User
from plug2support.accounts.policies import communication_block
from plug2support.lib.ids import is_id
from plug2support.lib.ratelimit import hit
from plug2support.lib.uploads import AttachmentError, CheckedFile, check_upload
from plug2support.widgets.models import Visitor

from .models import Attachment

__all__ = [
    "ATTACHMENTS_PER_MESSAGE", "AttachmentError", "attachment_payload", "check_attach",
    "do_attach", "do_delete_unattached", "do_store_mail_file", "do_upload_for_member",
    "do_upload_for_visitor",
]

ATTACHMENTS_PER_MESSAGE = 10
VISITOR_UPLOADS_PER_WINDOW = 20
VISITOR_UPLOAD_WINDOW_SECONDS = 600

if TYPE_CHECKING:  # attachments sit below conversations (docs/architecture.md, Layers)
    from plug2support.conversations.models import Conversation, Event


def _store(company_id: int, checked: CheckedFile, *, visitor: Visitor | None = None,
           user: User | None = None) -> Attachment:
    attachment = Attachment(
        company_id=company_id, uploaded_by_visitor=visitor, uploaded_by_user=user,
        name=checked.name, content_type=checked.content_type, size=checked.size,
        sha256=checked.sha256, is_image=checked.is_image)
    try:
        attachment.file.save(checked.name, File(checked.content), save=False)
    finally:
        checked.close()
    try:
        attachment.save()
    except BaseException:
        attachment.file.delete(save=False)
        raise
    return attachment


def _rewind(uploaded_file: Any) -> None:
    seek = getattr(uploaded_file, "seek", None)
    if callable(seek):
        seek(0)


def do_upload_for_visitor(visitor: Visitor, uploaded_file: Any) -> Attachment:
    """Store a visitor's upload in their widget's company. Not visible to anyone else until
    do_attach puts it in their conversation. A company whose chat is blocked (billing, H6)
    takes no uploads from its visitors, as it takes no messages. Its operators still upload:
    notes (which may carry files) work while replies are blocked."""
    if communication_block(visitor.widget.company_id) is not None:
        raise AttachmentError("chat_unavailable", "The chat is unavailable at the moment.")
    if not hit(f"visitor-upload:{visitor.pk}", VISITOR_UPLOADS_PER_WINDOW,
               VISITOR_UPLOAD_WINDOW_SECONDS):
        raise AttachmentError(
            "rate_limited", f"Too many files: at most {VISITOR_UPLOADS_PER_WINDOW} every "
            f"{VISITOR_UPLOAD_WINDOW_SECONDS // 60} minutes. Please wait a moment.")
    _rewind(uploaded_file)
    checked = check_upload(uploaded_file, getattr(uploaded_file, "name", ""))
    company_id = (Visitor.objects.filter(pk=visitor.pk)
                  .values_list("widget__company_id", flat=True).get())
    return _store(company_id, checked, visitor=visitor)


def do_store_mail_file(visitor: Visitor, name: str, content: bytes) -> Attachment:
    """A file of a customer's e-mail (F5), through the same checks as a chat upload (type
    from the bytes, size). Not rate-limited per visitor like the widget's uploads: the mail
    was accepted whole, and a sender writing too much is limited by the mail channel (F3)."""
    checked = check_upload(io.BytesIO(content), name)
    return _store(visitor.widget.company_id, checked, visitor=visitor)


def do_upload_for_member(membership: Membership, uploaded_file: Any) -> Attachment:
    """Store an operator's upload in their current company."""
    _rewind(uploaded_file)
    checked = check_upload(uploaded_file, getattr(uploaded_file, "name", ""))
    return _store(membership.company_id, checked, user=membership.user)


def _clean_ids(attachment_ids: Iterable[object]) -> list[int]:
    ids: list[int] = []
    for value in attachment_ids:
        if not is_id(value) or value <= 0:
            raise AttachmentError("not_found", "No such attachment.")
        if value not in ids:
            ids.append(value)
    if len(ids) > ATTACHMENTS_PER_MESSAGE:
        raise AttachmentError(
            "too_many", f"A message carries at most {ATTACHMENTS_PER_MESSAGE} attachments.")
    return ids


def _attachable(ids: list[int], conversation: Conversation,
                uploader: Visitor | User) -> QuerySet[Attachment]:
    attachable = Attachment.objects.filter(
        pk__in=ids, company_id=conversation.company_id, conversation__isnull=True)
    if isinstance(uploader, Visitor):
        if conversation.visitor_id != uploader.pk:
            return attachable.none()
        return attachable.filter(uploaded_by_visitor_id=uploader.pk)
    return attachable.filter(uploaded_by_user_id=uploader.pk)


def check_attach(attachment_ids: Iterable[object], *, conversation: Conversation,
                 uploader: Visitor | User) -> list[int]:
    """The ids, cleaned, when every one names an upload of this uploader, in this
    conversation's company, not attached yet; AttachmentError (not_found, too_many) else.
    Call it before storing the message so a refused attach stores nothing."""
    ids = _clean_ids(attachment_ids)
    if ids and _attachable(ids, conversation, uploader).count() != len(ids):
        raise AttachmentError("not_found", "No such attachment (or it was already sent).")
    return ids


def do_attach(attachment_ids: Iterable[object], *, event: Event,
              uploader: Visitor | User) -> list[Attachment]:
    """Attach the uploader's uploads to the event (the message) and its conversation.
    All or nothing: one id that is foreign, someone else's or already attached refuses the
    lot (not_found). Call it inside the transaction that stores the event."""
    ids = _clean_ids(attachment_ids)
    if not ids:
        return []
    conversation = event.conversation
    with transaction.atomic():
        # Conditional: of two messages that race to carry the same upload, one wins.
        updated = _attachable(ids, conversation, uploader).update(
            conversation=conversation, event=event)
        if updated != len(ids):
            raise AttachmentError("not_found", "No such attachment (or it was already sent).")
    attached = {a.pk: a for a in Attachment.objects.filter(pk__in=ids).select_related(
        "conversation__widget", "uploaded_by_visitor__widget")}
    return [attached[pk] for pk in ids]


def attachment_payload(attachment: Attachment) -> dict[str, Any]:
    """The JSON shape of an attachment (docs/protocol.md): `url` for the operator console,
    `widget_url` for the visitor's widget (with the visitor token as a Bearer header; an
    <img> or a link asks for a signed link, links.py), null while an operator's upload is
    not in a conversation."""
    widget_key = None
    if attachment.conversation_id is not None:
        widget_key = attachment.conversation.widget.key  # type: ignore[union-attr]
    elif attachment.uploaded_by_visitor_id is not None:
        widget_key = attachment.uploaded_by_visitor.widget.key  # type: ignore[union-attr]
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "is_image": attachment.is_image,
        "url": reverse("attachment_download", args=[attachment.pk, attachment.name]),
        "widget_url": None if widget_key is None else reverse(
            "widget_attachment_download", args=[widget_key, attachment.pk]),
    }


def do_delete_unattached(older_than: timedelta = timedelta(days=1)) -> int:
    """Remove uploads that no message carried within `older_than`, files included."""
    cutoff = timezone.now() - older_than
    count = 0
    for attachment in Attachment.objects.filter(conversation__isnull=True,
                                                created_at__lt=cutoff).iterator():
        # Conditional, so an upload attached meanwhile is kept.
        deleted, _ = Attachment.objects.filter(pk=attachment.pk,
                                               conversation__isnull=True).delete()
        if deleted:
            attachment.file.delete(save=False)
            count += 1
    return count


def delete_unattached_for_slot(slot: datetime) -> dict[str, int]:
    """The hourly periodic job (ops/periodic.py): idempotent, whatever the slot."""
    return {"deleted": do_delete_unattached()}
