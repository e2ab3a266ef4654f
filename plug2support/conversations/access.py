"""Reads of conversations, always scoped to a company: a foreign id is simply not found."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from plug2support.accounts.models import Membership

from .models import Conversation, Event


def conversations_for(membership: Membership) -> QuerySet[Conversation]:
    return Conversation.objects.filter(company_id=membership.company_id).select_related(
        "assignee", "widget", "visitor"
    )


def get_conversation_for_member(membership: Membership, conversation_id: object) -> Conversation:
    # An int, or a string of digits (from a URL); anything else names nothing.
    if isinstance(conversation_id, str) and conversation_id.isdigit():
        conversation_id = int(conversation_id)
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
        raise Http404("No such conversation.")
    pk = conversation_id
    conversation = conversations_for(membership).filter(pk=pk).first()
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def events_after(conversation_id: int, after: int, limit: int = 500) -> list[Event]:
    return list(
        Event.objects.filter(conversation_id=conversation_id, seq__gt=after)
        .select_related("author")
        .order_by("seq")[:limit]
    )
