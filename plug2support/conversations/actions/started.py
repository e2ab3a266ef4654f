"""Conversations started by the team (C7): a chat with someone on the site, an e-mail
to a contact, and the invited browser that accepts."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership
from plug2support.contacts.actions import verified_user_of
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import visitor_topic
from plug2support.widgets.models import ProactiveInvite, SiteVisitor, Visitor, Widget, hash_token
from plug2support.widgets.visits import INVITE_LIFETIME

from .. import lifecycle
from ..models import Channel, Conversation
from .core import ConversationError, Posted, check_message
from .messages import do_post_operator_message
from .visitors import current_conversation


def _placeholder_visitor(widget: Widget, email: str = "") -> Visitor:
    """A visitor whose token nobody holds yet: adopted by the browser that accepts the
    invite, or reached only by e-mail."""
    return Visitor.objects.create(widget=widget, token_hash=hash_token(secrets.token_urlsafe(32)),
                                  email=email, placeholder=True)


def _start(membership: Membership, visitor: Visitor, *, client_id: object, body: object,
           reply_by_email: bool = False, subject: str = "") -> Posted:
    conversation = current_conversation(visitor)
    if conversation is None:
        conversation = Conversation.objects.create(
            company_id=visitor.widget.company_id, widget=visitor.widget, visitor=visitor,
            reply_by_email=reply_by_email,
            channel=Channel.EMAIL if reply_by_email else Channel.CHAT)
        lifecycle.opened(conversation, conversation.created_at)
        publish_after_commit(visitor_topic(visitor.pk), {
            "type": "conversation_started", "conversation": {"id": conversation.pk}})
    return do_post_operator_message(membership, conversation, client_id=client_id, body=body,
                                    email={"subject": subject} if reply_by_email else None)


def do_start_chat_with_site_visitor(membership: Membership, site_visitor: SiteVisitor, *,
                                    client_id: object, body: object) -> Posted:
    """Start a chat with someone on the site now; their loader opens the chat."""
    check_message(body, client_id)
    with transaction.atomic():
        visitor = site_visitor.visitor
        if visitor is None:
            visitor = _placeholder_visitor(site_visitor.widget)
            SiteVisitor.objects.filter(pk=site_visitor.pk).update(visitor=visitor)
            site_visitor.visitor = visitor
        posted = _start(membership, visitor, client_id=client_id, body=body)
        if not posted.duplicate:
            ProactiveInvite.objects.create(site_visitor=site_visitor,
                                           conversation_id=posted.event.conversation_id)
    return posted


def do_start_email_conversation(membership: Membership, widget: Widget, *, email: object,
                                client_id: object, body: object, subject: object = "") -> Posted:
    """Write first to a known contact by e-mail: the message and the replies go by e-mail."""
    if widget.company_id != membership.company_id:
        raise ConversationError("not_found", "No such widget.")
    if not isinstance(email, str):
        raise ConversationError("invalid_email", "Give the contact's e-mail address.")
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ConversationError("invalid_email", "Give the contact's e-mail address.") from None
    check_message(body, client_id)
    with transaction.atomic():
        visitor = (Visitor.objects.filter(widget=widget, email=email).order_by("-created_at")
                   .first()) or _placeholder_visitor(widget, email)
        conversation = current_conversation(visitor)
        if conversation is not None and not conversation.reply_by_email:
            Conversation.objects.filter(pk=conversation.pk).update(reply_by_email=True)
        return _start(membership, visitor, client_id=client_id, body=body, reply_by_email=True,
                      subject=subject if isinstance(subject, str) else "")


def do_accept_invite(widget: Widget, code: object, token: str | None, *,
                     proven: str | None = None) -> tuple[Visitor, str] | None:
    """The browser an operator invited opens the chat and takes over the conversation.

    The invite is to a site visitor (a vid), and whoever uses that browser now need not be
    who chatted there before (N7): a visitor some browser holds opens only for that browser
    (its token) or, when it is a verified user's, for that user `proven` by the site. Only a
    placeholder (nobody's yet) is adopted by any browser: it becomes the browser's visitor,
    or its conversation moves to the visitor the browser already has. Anyone else's invite
    is ignored (and stays unredeemed for its owner)."""
    if not isinstance(code, str) or not code:
        return None
    with transaction.atomic():
        invite = (ProactiveInvite.objects.select_for_update()
                  .filter(code=code, site_visitor__widget=widget, accepted_at__isnull=True,
                          created_at__gte=timezone.now() - INVITE_LIFETIME)
                  .select_related("conversation__visitor").first())
        if invite is None:
            return None
        invited = invite.conversation.visitor
        bound = verified_user_of(invited)
        if bound not in (None, proven):
            return None
        own = (Visitor.objects.filter(widget=widget, token_hash=hash_token(token)).first()
               if token else None)
        if own is not None and own.pk == invited.pk:
            visitor, new_token = own, token or ""
        elif not invited.placeholder and bound is None:
            return None  # someone's anonymous visitor, and this browser is not theirs
        elif own is not None:
            Conversation.objects.filter(visitor=invited).update(visitor=own)
            invited.site_visits.update(visitor=own)
            visitor, new_token = own, token or ""
        else:
            new_token = secrets.token_urlsafe(32)
            Visitor.objects.filter(pk=invited.pk).update(token_hash=hash_token(new_token),
                                                         placeholder=False)
            visitor = invited
        ProactiveInvite.objects.filter(pk=invite.pk).update(accepted_at=timezone.now())
    visitor.widget = widget
    return visitor, new_token
