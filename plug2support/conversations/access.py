"""Reads of conversations, always scoped to a company: a foreign id is simply not found."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Prefetch, Q, QuerySet
from django.http import Http404

from plug2support.accounts.models import Membership, User
from plug2support.attachments.access import attachments_by_event
from plug2support.attachments.models import Attachment
from plug2support.lib.ids import id_from, is_id
from plug2support.lib.rows import RowReader, current_connection, hot_cursor

from .models import Conversation, ConversationTag, Dependency, Event, Ticket, TransferRequest
from .work import dependency_payload, ticket_payload


def company_conversations(membership: Membership) -> QuerySet[Conversation]:
    """The scope of every read: the member's company's conversations, nothing loaded along."""
    return Conversation.objects.filter(company_id=membership.company_id)


def conversations_for(membership: Membership) -> QuerySet[Conversation]:
    return company_conversations(membership).select_related(
        "assignee", "widget", "visitor", "group"
    ).prefetch_related(
        # One query for the tags of the whole page, their names joined in.
        Prefetch("tag_links", queryset=ConversationTag.objects.select_related("tag")
                 .order_by("pk")))


def get_conversation_for_member(membership: Membership, conversation_id: object) -> Conversation:
    pk = id_from(conversation_id)  # anything else names nothing
    if pk is None:
        raise Http404("No such conversation.")
    conversation = conversations_for(membership).filter(pk=pk).first()
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


_EVENT_ROW = RowReader(Event)
_AUTHOR_ROW = RowReader(User, ["id", "name", "email"])
_events_sql: dict[tuple[str, bool], str] = {}


def _events_statement(connection: BaseDatabaseWrapper, visitor: bool) -> str:
    """Written by hand, kept per database: every replay runs it (a socket following a new
    conversation, each conversation of a console catching up after a reconnect), and Django
    built the query and its attachments' query anew each time (bench/README.md, burst).
    Whether an event has attachments comes along, so most replays need no second query."""
    key = (connection.vendor, visitor)
    sql = _events_sql.get(key)
    if sql is None:

        sql = (f"SELECT {_EVENT_ROW.columns('e', connection)}, "  # noqa: S608 (our names)
               f"{_AUTHOR_ROW.columns('u', connection)}, "
               f"(SELECT COUNT(*) FROM (SELECT 1 FROM {Attachment._meta.db_table} a "
               f"WHERE a.event_id = e.id LIMIT 1) x) "
               f"FROM {Event._meta.db_table} e "
               f"LEFT JOIN {User._meta.db_table} u ON u.id = e.author_id "
               f"WHERE e.conversation_id = %s AND e.seq > %s"
               f"{' AND NOT e.staff_only' if visitor else ''} ORDER BY e.seq LIMIT %s")
        _events_sql[key] = sql
    return sql


def events_after(conversation_id: int, after: int, limit: int = 500,
                 *, visitor: bool = False) -> list[Event]:
    """Events after `after`, in order, with their attachments; for a visitor, never the
    team-only ones."""
    connection = current_connection()
    with hot_cursor(connection) as cursor:
        cursor.execute(_events_statement(connection, visitor), [conversation_id, after, limit])
        rows = cursor.fetchall()
    events, with_files = [], []
    ends = len(_EVENT_ROW), len(_EVENT_ROW) + len(_AUTHOR_ROW)
    for row in rows:
        event = _EVENT_ROW.read(row[:ends[0]], connection)
        author = row[ends[0]:ends[1]]
        event.author = _AUTHOR_ROW.read(author, connection) if author[0] is not None else None
        if row[-1]:
            with_files.append(event.pk)
        events.append(event)
    attachments = attachments_by_event(with_files)
    for event in events:
        event.attachment_payloads = attachments.get(event.pk, [])  # type: ignore[attr-defined]
    return events


def _scoped(queryset: Any, pk: object, missing: str) -> Any:
    """The row with this id in an already company-scoped queryset; anything else is 404."""
    found = queryset.filter(pk=pk).first() if is_id(pk) else None
    if found is None:
        raise Http404(missing)
    return found


def get_transfer_for_member(membership: Membership, request_id: object) -> TransferRequest:
    return _scoped(TransferRequest.objects.filter(conversation__company_id=membership.company_id),
                   request_id, "No such transfer request.")


def pending_transfers_for(membership: Membership) -> list[TransferRequest]:
    """Open requests this operator asked, or was asked and still serves."""
    return list(
        TransferRequest.objects.filter(
            conversation__company_id=membership.company_id, status="pending")
        .filter(Q(requested_by_id=membership.user_id)
                | Q(asked_of_id=membership.user_id,
                    conversation__assignee_id=F("asked_of_id")))
        .select_related("requested_by", "asked_of").order_by("created_at"))


def get_ticket_for_member(membership: Membership, ticket_id: object) -> Any:
    return _scoped(Ticket.objects.filter(company_id=membership.company_id)
                   .select_related("owner"), ticket_id, "No such ticket.")


def get_dependency_for_member(membership: Membership, dependency_id: object) -> Any:
    return _scoped(Dependency.objects.filter(conversation__company_id=membership.company_id),
                   dependency_id, "No such dependency.")


def work_of(conversation_id: int) -> dict[str, list[dict[str, Any]]]:
    """The conversation's tickets and what it waits for, for the console."""
    return work_for([conversation_id])[conversation_id]


def work_for(conversation_ids: Collection[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """work_of for each of these conversations, in two queries whatever their number (a
    console subscribing to many at once after a reconnect)."""
    work: dict[int, dict[str, list[dict[str, Any]]]] = {
        pk: {"tickets": [], "dependencies": []} for pk in conversation_ids}
    for ticket in Ticket.objects.filter(conversation_id__in=work).select_related("owner"):
        assert ticket.conversation_id is not None
        work[ticket.conversation_id]["tickets"].append(ticket_payload(ticket))
    for dependency in Dependency.objects.filter(conversation_id__in=work).select_related(
            "ticket__owner", "reviewer"):
        work[dependency.conversation_id]["dependencies"].append(dependency_payload(dependency))
    return work
