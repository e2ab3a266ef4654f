"""Reading saved replies, always through the member: the company's and their own, never a
teammate's own nor another company's (a foreign id is a 404)."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import Http404

from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from

from .models import SavedReply

QUERY_MAX = 100
RESULTS_MAX = 20
PREVIEW_CHARS = 120


def replies_for(membership: Membership) -> QuerySet[SavedReply]:
    return SavedReply.objects.filter(
        Q(owner=None) | Q(owner_id=membership.user_id), company_id=membership.company_id)


def get_saved_reply_for_member(membership: Membership, reply_id: object) -> SavedReply:
    pk = id_from(reply_id)
    reply = None if pk is None else replies_for(membership).filter(pk=pk).first()
    if reply is None:
        raise Http404("No such saved reply.")
    return reply


def search_saved_replies(membership: Membership, query: str) -> list[SavedReply]:
    """For the composer's `/` (issue 18, contract 1): those whose shortcut, title or body
    holds the query (any case), shortcuts that start with it first, then the most used; an
    empty query gives the most used."""
    # Control characters are no reply's (the forms refuse them), and PostgreSQL's text
    # cannot hold a NUL: they are dropped from the query.
    query = "".join(ch for ch in query if unicodedata.category(ch) != "Cc")
    query = " ".join(query.split())[:QUERY_MAX].removeprefix("/")
    found = replies_for(membership)
    if query:
        found = found.filter(Q(shortcut__icontains=query) | Q(title__icontains=query)
                             | Q(body__icontains=query)).annotate(
            prefix=Case(When(shortcut__istartswith=query, then=Value(0)), default=Value(1),
                        output_field=IntegerField())).order_by("prefix", "-usage_count",
                                                               "title", "pk")
    else:
        found = found.order_by("-usage_count", "title", "pk")
    return list(found.prefetch_related("files")[:RESULTS_MAX])


def preview(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


def reply_payload(reply: SavedReply) -> dict[str, Any]:
    return {"id": reply.pk, "title": reply.title, "shortcut": reply.shortcut,
            "preview": preview(reply.body), "scope": reply.scope,
            "attachments": [{"name": f.name, "size": f.size} for f in reply.files.all()]}
