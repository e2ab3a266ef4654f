"""The periodic job (ops/periodic.py, every minute): breaches recorded at their due time and
warnings sent once per clock, however many workers run it at once. Each clock is taken by one
conditional UPDATE that finds it still unrecorded (0 rows: another worker, or the writer
that stopped or paused it, was first); a re-run of a slot finds nothing left to do. A worker
that was down catches up: everything due up to the slot is handled at once, each breach
dated at its own due time."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership
from plug2support.conversations.models import Conversation
from plug2support.notifications.actions import do_notify

from .models import ClockState, FactKind, SlaClock, SlaFact, Target

BATCH = 500
LABELS = dict(Target.choices)


def check_due(slot: datetime) -> dict[str, int]:
    return {"breached": record_breaches(slot), "warned": send_warnings(slot)}


def record_breaches(slot: datetime) -> int:
    found = 0
    due = list(SlaClock.objects.filter(state=ClockState.RUNNING, breached_at__isnull=True,
                                       due_at__lte=slot).order_by("due_at")[:BATCH])
    for clock in due:
        assert clock.due_at is not None  # the query's
        with transaction.atomic():
            if not SlaClock.objects.filter(pk=clock.pk, state=ClockState.RUNNING,
                                           breached_at__isnull=True, due_at=clock.due_at
                                           ).update(breached_at=clock.due_at):
                continue
            SlaFact.objects.create(
                company_id=clock.company_id, conversation_id=clock.conversation_id,
                clock=clock, policy_id_at=clock.policy_id, target=clock.target,
                fact=FactKind.BREACH, at=clock.due_at, elapsed_seconds=clock.target_seconds,
                target_seconds=clock.target_seconds, business_hours=clock.business_hours)
            _mark_summary_breached(clock)
            found += 1
    return found


def _mark_summary_breached(clock: SlaClock) -> None:
    conversation = Conversation.objects.select_for_update().filter(pk=clock.conversation_id
                                                                   ).first()
    if conversation is None or not conversation.sla:
        return
    sla = dict(conversation.sla)
    if sla.get("target") == clock.target and not sla.get("breached"):
        sla["breached"] = True
        Conversation.objects.filter(pk=conversation.pk).update(sla=sla)


def send_warnings(slot: datetime) -> int:
    sent = 0
    near = list(SlaClock.objects.filter(state=ClockState.RUNNING, warned_at__isnull=True,
                                        warn_at__lte=slot).select_related(
        "conversation__visitor", "conversation__group").order_by("warn_at")[:BATCH])
    for clock in near:
        with transaction.atomic():
            if not SlaClock.objects.filter(pk=clock.pk, warned_at__isnull=True).update(
                    warned_at=timezone.now()):
                continue
            if clock.breached_at is not None:
                continue  # too late to warn: the breach says it
            conversation = clock.conversation
            people = _who_to_warn(conversation)
            if people:
                due = clock.due_at.strftime("%H:%M UTC") if clock.due_at else ""
                do_notify(company_id=clock.company_id, user_ids=people, kind="sla_warning",
                          title=f"{LABELS[clock.target]} due {due}: "
                                f"{conversation.visitor.display_name}",
                          url=f"/inbox/{conversation.pk}/")
            sent += 1
    return sent


def _who_to_warn(conversation: Conversation) -> list[int]:
    """The serving operator; in the pool, every member who can take it (its group's members
    when routed to a group, else everyone in the company)."""
    members = Membership.objects.filter(company_id=conversation.company_id)
    if conversation.assignee_id is not None:
        return list(members.filter(user_id=conversation.assignee_id)
                    .values_list("user_id", flat=True))
    if conversation.group_id is not None:
        members = members.filter(user__operator_groups=conversation.group_id)
    return list(members.values_list("user_id", flat=True))
