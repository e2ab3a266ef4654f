"""Visitors of a widget: who a token names, and the conversation the widget shows."""

from __future__ import annotations

import secrets

from plug2support.lib.ratelimit import hit
from plug2support.widgets.models import SiteVisitor, Visitor, Widget, hash_token

from ..models import Conversation, Stage
from .core import ConversationError

NEW_VISITORS_PER_IP_PER_MINUTE = 60


def do_identify_visitor(widget: Widget, token: str | None,
                        ip: str = "") -> tuple[Visitor, str]:
    """The visitor a token names on this widget, or a new visitor and its new token."""
    if token:
        visitor = Visitor.objects.filter(widget=widget, token_hash=hash_token(token)).first()
        if visitor is not None:
            visitor.widget = widget  # callers (the socket) read it without a query
            return visitor, token
    if ip and not hit(f"visitor-new:{ip}", NEW_VISITORS_PER_IP_PER_MINUTE, 60):
        raise ConversationError(
            "rate_limited", f"Too many new visitors from this address: at most "
            f"{NEW_VISITORS_PER_IP_PER_MINUTE} a minute.", retry_after=60)
    token = secrets.token_urlsafe(32)
    visitor = Visitor.objects.create(widget=widget, token_hash=hash_token(token))
    return visitor, token


def current_conversation(visitor: Visitor) -> Conversation | None:
    """The conversation the widget shows: the visitor's latest one that is not archived (D4)."""
    return (
        Conversation.objects.filter(visitor=visitor)
        .exclude(stage=Stage.ARCHIVED)
        .select_related("assignee")
        .order_by("-created_at", "-id")
        .first()
    )


def do_link_site_visitor(visitor: Visitor, vid: object) -> None:
    """The chat opened in a browser the loader knows: operators can reach it from the
    visitors list from now on."""
    if isinstance(vid, str) and vid:
        SiteVisitor.objects.filter(widget_id=visitor.widget_id, vid=vid).update(visitor=visitor)
