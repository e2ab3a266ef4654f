"""Visitors of a widget: who a token names, and the conversation the widget shows."""

from __future__ import annotations

import secrets

from django.db.models import Prefetch

from plug2support.accounts.models import Membership
from plug2support.contacts.actions import do_name_contact
from plug2support.lib.ratelimit import hit
from plug2support.widgets.models import SiteVisitor, Visitor, Widget, hash_token

from ..models import Conversation, ConversationTag, Stage
from .core import ConversationError, publish

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


# The conversations whose new summary a renamed person's consoles are sent: the open ones
# (an archived conversation is out of every list a console keeps live).
RENAMED_SUMMARIES_MAX = 50


def do_name_visitor(membership: Membership, conversation: Conversation,
                    name: object) -> str:
    """M8: an operator names the person of a conversation of their company (the contacts'
    one write, do_name_contact: IdentityError for a refused name or a verified contact).
    Every console of the company gets the new summaries of that person's open
    conversations (the `conversation` frame: list, title and sidebar). The name as the
    team now sees it."""
    visitor = conversation.visitor
    contact = do_name_contact(membership, visitor, name)
    people = (Conversation.objects.filter(visitor__contact_link__contact=contact)
              if contact is not None else Conversation.objects.filter(visitor=visitor))
    renamed = (people.filter(company_id=membership.company_id).exclude(stage=Stage.ARCHIVED)
               .select_related("assignee", "widget", "visitor", "group")
               .prefetch_related(Prefetch("tag_links", queryset=ConversationTag.objects
                                          .select_related("tag").order_by("pk")))
               .order_by("-updated_at")
               [:RENAMED_SUMMARIES_MAX])
    for each in renamed:
        publish(each)
    visitor.refresh_from_db(fields=["name"])
    return visitor.display_name
