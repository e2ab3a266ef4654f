"""Tickets and Hold dependencies (E1, E2, D2)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership
from plug2support.lib.ids import is_id
from plug2support.notifications.actions import do_notify

from ..hot_path import append_event
from ..models import (
    CLOSED_TICKET_STAGES,
    Conversation,
    Dependency,
    Event,
    EventKind,
    Sender,
    Stage,
    Ticket,
    TicketKind,
    TicketStage,
)
from ..people import display_name
from .core import ConversationError, lock_conversation, publish
from .stages import auto_move, do_move_stage


def do_open_ticket(membership: Membership, conversation: Conversation, *, title: object,
                   kind: object = "ticket", needs_code_change: object = False,
                   owner_id: object = None) -> Any:
    """E1: a ticket linked to the conversation, in the tracker its nature calls for."""
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise ConversationError("invalid_ticket", "A ticket needs a title of 1 to 200 "
                                "characters.")
    if kind not in TicketKind.values:
        raise ConversationError("invalid_ticket", "kind is ticket or issue.")
    owner = membership.user
    if owner_id is not None:
        member = (Membership.objects.filter(company_id=membership.company_id, user_id=owner_id)
                  .select_related("user").first()
                  if is_id(owner_id) else None)
        if member is None:
            raise ConversationError("not_found", "No such operator in this company.")
        owner = member.user
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        ticket = Ticket.objects.create(
            company_id=locked.company_id, conversation=locked, title=title.strip(),
            kind=kind, needs_code_change=bool(needs_code_change), owner=owner,
            created_by=membership.user)
        tracker = ("Product Assist Tracker" if ticket.tracker == "product_assist"
                   else "Active Ticket Tracker")
        event = append_event(locked, kind=EventKind.TICKET, sender=Sender.SYSTEM,
                             author=membership.user,
                             body=f"{display_name(membership.user)} opened #{ticket.pk} "
                             f"{ticket.title} ({tracker})")
        publish(locked, event)
    return ticket


def do_hold(membership: Membership, conversation: Conversation, *, tickets: object = (),
            reviewers: object = (), expected: object = None) -> Event:
    """E2: put the conversation on Hold until its tickets close and its reviewers answer."""
    ticket_ids = tickets if isinstance(tickets, list | tuple) else None
    reviewer_ids = reviewers if isinstance(reviewers, list | tuple) else None
    if ticket_ids is None or reviewer_ids is None or not (ticket_ids or reviewer_ids):
        raise ConversationError("no_dependencies",
                                "Name what it waits for: a ticket or a person's review.")
    if not all(is_id(i) for i in (*ticket_ids, *reviewer_ids)):
        raise ConversationError("not_found", "No such ticket or person in this company.")
    found = list(Ticket.objects.filter(company_id=membership.company_id,
                                       pk__in=[t for t in ticket_ids if isinstance(t, int)]))
    people = list(Membership.objects.filter(
        company_id=membership.company_id,
        user_id__in=[r for r in reviewer_ids if isinstance(r, int)]).values_list(
        "user_id", flat=True))
    if len(found) != len(set(ticket_ids)) or len(people) != len(set(reviewer_ids)):
        raise ConversationError("not_found", "No such ticket or person in this company.")
    with transaction.atomic():
        event = do_move_stage(membership, conversation, Stage.HOLD, expected)
        for ticket in found:
            Dependency.objects.create(conversation_id=conversation.pk, ticket=ticket,
                                      done=ticket.stage in ("done", "wont_do"))
        for user_id in people:
            Dependency.objects.create(conversation_id=conversation.pk, reviewer_id=user_id)

        do_notify(company_id=membership.company_id, user_ids=people, kind="review",
                  title=f"{display_name(membership.user)} needs your review",
                  url=f"/inbox/{conversation.pk}/")
        _release_if_ready(conversation.pk)
    return event


def _release_if_ready(conversation_id: int) -> Event | None:
    """D2: when every dependency of a Hold conversation is complete, it needs a response;
    its serving operator is told."""
    locked = lock_conversation(conversation_id)
    deps = Dependency.objects.filter(conversation_id=conversation_id)
    if locked.stage != Stage.HOLD or not deps.exists() or deps.filter(done=False).exists():
        return None
    moved = auto_move(locked, Stage.NEEDS_RESPONSE, "its dependencies are complete")
    if moved is not None:
        publish(locked, moved)
        if locked.assignee_id:
            do_notify(company_id=locked.company_id, user_ids=[locked.assignee_id],
                      kind="hold_released",
                      title=f"{locked.visitor.display_name} needs a response: its "
                            "dependencies are complete", url=f"/inbox/{locked.pk}/")
    return moved


def do_set_ticket_stage(membership: Membership, ticket: Any, stage: object) -> Any:
    """Move a ticket; closing it completes the conversations waiting on it."""
    if stage not in TicketStage.values:
        raise ConversationError("invalid_ticket", "Unknown ticket stage.")
    with transaction.atomic():
        closing = stage in CLOSED_TICKET_STAGES
        Ticket.objects.filter(pk=ticket.pk, company_id=membership.company_id).update(
            stage=stage, closed_at=timezone.now() if closing else None)
        ticket.stage = stage
        waiting = list(Dependency.objects.filter(ticket=ticket).values_list(
            "conversation_id", flat=True))
        Dependency.objects.filter(ticket=ticket).update(
            done=closing, done_at=timezone.now() if closing else None)
        for conversation_id in waiting:
            _release_if_ready(conversation_id)
    return ticket


def do_complete_review(membership: Membership, dependency: Any) -> None:
    """The named person says their review is done."""
    if dependency.reviewer_id != membership.user_id:
        raise ConversationError("not_yours", "Only the person asked for a review can "
                                "complete it.")
    with transaction.atomic():
        Dependency.objects.filter(pk=dependency.pk).update(done=True, done_at=timezone.now())
        _release_if_ready(dependency.conversation_id)
