"""Reads of attachments, always scoped: a foreign or hidden attachment is simply not found."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from
from plug2support.widgets.models import Visitor, Widget

from .actions import attachment_payload
from .links import read_link
from .models import Attachment


def _pk(value: object) -> int:
    pk = id_from(value)  # anything else names nothing
    if pk is None:
        raise Http404("No such attachment.")
    return pk


def _with_urls(attachments: QuerySet[Attachment]) -> QuerySet[Attachment]:
    # What attachment_payload reads to build the widget's URL.
    return attachments.select_related("conversation__widget", "uploaded_by_visitor__widget")


def get_attachment_for_member(membership: Membership, attachment_id: object) -> Attachment:
    """One of the company's attachments that is in a conversation, or this operator's own
    upload not sent yet. Another operator's unsent upload is nobody else's business."""
    attachment = _with_urls(Attachment.objects.filter(
        pk=_pk(attachment_id), company_id=membership.company_id)
        .filter(Q(conversation__isnull=False) | Q(uploaded_by_user_id=membership.user_id))
    ).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def _seen_by(visitor_id: int) -> Q:
    """The visitor's own uploads, and those sent to them in their own conversations; never
    one on a team-only event (a private note) and never someone else's unsent upload."""
    return (Q(uploaded_by_visitor_id=visitor_id)
            | Q(conversation__visitor_id=visitor_id, event__isnull=False,
                event__staff_only=False))


def get_attachment_for_visitor(visitor: Visitor, attachment_id: object) -> Attachment:
    attachment = _with_urls(Attachment.objects.filter(pk=_pk(attachment_id))
                            .filter(_seen_by(visitor.pk))).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def attachments_for_visitor(visitor: Visitor, attachment_ids: list[int]) -> list[Attachment]:
    """Those of these attachments the visitor may see (the others are simply left out), in
    one query."""
    return list(Attachment.objects.filter(pk__in=attachment_ids).filter(_seen_by(visitor.pk))
                .only("pk", "company_id").order_by("pk"))


def get_attachment_for_link(widget: Widget, attachment_id: object, signed: str) -> Attachment:
    """The attachment a signed link opens (links.py): the one it was signed for, while the
    visitor it was signed for, on this widget of the company it was signed in, may still see
    it. LinkRefused for a link out of date, altered or made for another attachment; 404 for
    a link moved to another widget or company."""
    pk = _pk(attachment_id)
    visitor_id, company_id = read_link(signed, pk)
    attachment = None
    if widget.company_id == company_id and Visitor.objects.filter(
            pk=visitor_id, widget_id=widget.pk).exists():
        attachment = _with_urls(Attachment.objects.filter(pk=pk, company_id=company_id)
                                .filter(_seen_by(visitor_id))).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def attachments_by_event(event_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The payloads of the attachments of these events, by event id, in upload order: one
    query for a whole replay."""
    found: dict[int, list[dict[str, Any]]] = {}
    ids = list(event_ids)
    if not ids:
        return found
    for attachment in _with_urls(Attachment.objects.filter(event_id__in=ids)).order_by("pk"):
        assert attachment.event_id is not None
        found.setdefault(attachment.event_id, []).append(attachment_payload(attachment))
    return found
