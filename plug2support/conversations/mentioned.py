"""The Mentions view (M3, M7): the conversations where the person was mentioned in a note,
newest mention first, with those whose mentions they have not yet seen. Not one of
filters.VIEWS: a mention belongs to a person, not to the conversation's columns that every
summary's `views` are made of, so this list names its conversations (`order`) and the
console keeps that order (protocol.md §6)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q

from plug2support.accounts.models import Membership

from .access import conversations_for
from .models import Mention
from .serializers import conversation_summary

MENTIONS_VIEW = "mentions"
MENTIONS_LABEL = "Mentions"


def mentioned_list(membership: Membership, limit: int = 100) -> dict[str, Any]:
    """Three queries: the person's mentions by conversation, the conversations, their tags."""
    latest = list(Mention.objects.filter(company_id=membership.company_id,
                                         user_id=membership.user_id)
                  .values("conversation_id")
                  .annotate(at=Max("created_at"),
                            unread=Count("id", filter=Q(read_at__isnull=True)))
                  .order_by("-at", "-conversation_id")[:limit])
    ids = [row["conversation_id"] for row in latest]
    found = {c.pk: c for c in conversations_for(membership).filter(pk__in=ids)}
    return {
        "conversations": [conversation_summary(found[pk]) for pk in ids if pk in found],
        "order": [pk for pk in ids if pk in found],
        "unread_mentions": [row["conversation_id"] for row in latest if row["unread"]],
    }
