"""Full-text search of the inbox (D10) on both databases: conversations with a message or
note matching every word of the search."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models.expressions import RawSQL

from ..models import Conversation, Event

WORD = re.compile(r"\w+", re.UNICODE)
# What people wrote, not the system's lines ("joined the conversation").
SEARCHED_KINDS = ("message", "note")


def matching_conversations(q: str) -> Any:
    """Ids of conversations with a message or note matching every word of `q`."""
    words = WORD.findall(q)[:20]
    if not words:
        return Conversation.objects.none().values("pk")
    if connection.vendor == "postgresql":
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
