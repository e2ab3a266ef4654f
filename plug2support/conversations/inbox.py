"""The inbox list (D9, D10): saved views, filters, full-text search, and the order — by
priority, then by how long the customer has waited. One list costs a fixed number of
queries however long it is (the conversations, plus one for their tags)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from plug2support.accounts.models import Membership

from .access import company_conversations, conversations_for
from .models import (
    HIDDEN_FROM_ALL_OPEN,
    INBOX_ORDER,
    Conversation,
    ConversationTag,
    Event,
    Priority,
    Stage,
)
from .stages import GROUPS

PAGE_SIZE = 100
SEARCH_MAX = 200

# Saved views (D10): a name → a filter on the conversations.
VIEWS: dict[str, str] = {
    "all_open": "All open",
    "needs_my_reply": "Needs my reply",
    "unassigned": "Unassigned",
    "mine": "Mine",
    "all": "All",
}


class InboxError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Filters:
    view: str = "all_open"
    stage: str = ""
    owner: int | None = None  # a user id, or 0 for "nobody"
    tag: int | None = None
    priority: int | None = None
    widget: int | None = None
    q: str = ""

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From query parameters; anything malformed is refused (never silently ignored)."""
        view = params.get("view") or "all_open"
        if view not in VIEWS:
            raise InboxError(f"Unknown view; one of: {', '.join(VIEWS)}.")
        stage = params.get("stage") or ""
        if stage and stage not in Stage.values:
            raise InboxError(f"Unknown stage; one of: {', '.join(Stage.values)}.")
        q = (params.get("q") or "").strip()
        if len(q) > SEARCH_MAX:
            raise InboxError(f"A search is at most {SEARCH_MAX} characters.")
        numbers: dict[str, int | None] = {}
        for name in ("owner", "tag", "priority", "widget"):
            raw = params.get(name) or ""
            if raw == "":
                numbers[name] = None
            elif raw.isascii() and raw.isdigit():
                numbers[name] = int(raw)
            else:
                raise InboxError(f"{name} must be a number.")
        if numbers["priority"] is not None and numbers["priority"] not in Priority.values:
            raise InboxError("Unknown priority.")
        return cls(view=view, stage=stage, q=q, **numbers)


def inbox_page(membership: Membership, filters: Filters,
               limit: int = PAGE_SIZE) -> list[Conversation]:
    conversations = _filtered(conversations_for(membership), membership, filters)
    # The order of the conversations' inbox indexes (models.py), which hand the first page
    # over without sorting the company's conversations, however many it has.
    return list(conversations.order_by(*INBOX_ORDER)[:limit])


def inbox_summaries(membership: Membership, filters: Filters,
                    limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """The same page as inbox_page, as conversation summaries read as plain values: two
    queries (the rows with their widget, visitor, assignee and group names; then their tags)
    and no model objects — the JSON list (views.inbox_list) and bench/inbox_scale.py."""
    from .serializers import SUMMARY_VALUES, summary_from_values

    page = _filtered(company_conversations(membership), membership, filters)
    rows = list(page.order_by(*INBOX_ORDER).values(*SUMMARY_VALUES)[:limit])
    tags: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    if rows:
        for link in (ConversationTag.objects.filter(conversation_id__in=list(tags))
                     .order_by("pk").values("conversation_id", "tag_id", "tag__name", "value")):
            tags[link["conversation_id"]].append(
                {"id": link["tag_id"], "name": link["tag__name"], "value": link["value"]})
    return [summary_from_values(row, tags[row["id"]]) for row in rows]


def _filtered(conversations: QuerySet[Conversation], membership: Membership,
              filters: Filters) -> QuerySet[Conversation]:
    closed = GROUPS["closed"]
    if filters.view == "all_open":
        # Term by term as in its partial index (models.py), so that both databases use it.
        for stage in HIDDEN_FROM_ALL_OPEN:
            conversations = conversations.exclude(stage=stage)
    elif filters.view == "needs_my_reply":
        conversations = conversations.filter(
            assignee_id=membership.user_id, stage__in=(Stage.NEW, Stage.NEEDS_RESPONSE))
    elif filters.view == "unassigned":
        conversations = conversations.filter(assignee__isnull=True).exclude(stage__in=closed)
    elif filters.view == "mine":
        conversations = conversations.filter(assignee_id=membership.user_id)
    if filters.stage:
        conversations = conversations.filter(stage=filters.stage)
    if filters.owner is not None:
        conversations = conversations.filter(
            assignee__isnull=True) if filters.owner == 0 else conversations.filter(
            assignee_id=filters.owner)
    if filters.tag is not None:
        conversations = conversations.filter(tag_links__tag_id=filters.tag)
    if filters.priority is not None:
        conversations = conversations.filter(priority=filters.priority)
    if filters.widget is not None:
        conversations = conversations.filter(widget_id=filters.widget)
    if filters.q:
        conversations = conversations.filter(pk__in=_matching_conversations(filters.q))
    return conversations


WORD = re.compile(r"\w+", re.UNICODE)
# What people wrote, not the system's lines ("joined the conversation").
SEARCHED_KINDS = ("message", "note")


def _matching_conversations(q: str) -> Any:
    """Ids of conversations with a message or note matching every word of `q`."""
    words = WORD.findall(q)[:20]
    if not words:
        return Conversation.objects.none().values("pk")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # Words are \w+ only, so the tsquery has no syntax of the user's: every word required,
        # the last one as a prefix (results while typing). The same expression as the GIN
        # index of migration 0008, so the index is used.
        raw = " & ".join(words[:-1] + [words[-1] + ":*"])
        return (Event.objects.filter(kind__in=SEARCHED_KINDS)
                .annotate(doc=SearchVector("body", config="simple"))
                .filter(doc=SearchQuery(raw, config="simple", search_type="raw"))
                .values("conversation_id"))
    # SQLite FTS5: every word quoted (no query syntax of the user's), all required, the last
    # one as a prefix.
    terms = " ".join('"' + w.replace('"', '""') + '"' for w in words) + "*"
    matching = RawSQL("SELECT rowid FROM conversations_event_fts "  # noqa: S611 (bound param)
                      "WHERE conversations_event_fts MATCH %s", [terms])
    return (Event.objects.filter(pk__in=matching, kind__in=SEARCHED_KINDS)
            .values("conversation_id"))

