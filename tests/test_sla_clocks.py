"""Service targets (K3): the clocks over the worked examples of docs/metrics.md "Service
targets", with time-machine moving the clock (run on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine

from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Stage
from plug2support.conversations.serializers import conversation_summary
from plug2support.sla import business
from plug2support.sla.facts import facts
from plug2support.sla.models import ClockState, SlaClock, SlaPolicy
from plug2support.widgets.hours import Schedule
from plug2support.widgets.models import Holiday, OpeningHours

from .conftest import Tenant

MON = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


def office(tenant: Tenant, holidays: tuple[date, ...] = ()) -> None:
    """09:00–17:00 UTC on weekdays."""
    widget = tenant.widget
    widget.hours_enabled = True
    widget.save()
    for weekday in range(5):
        OpeningHours.objects.create(widget=widget, weekday=weekday, opens=time(9),
                                    closes=time(17))
    for day in holidays:
        Holiday.objects.create(widget=widget, date=day, name="Holiday")


def policy(tenant: Tenant, **values: Any) -> SlaPolicy:
    defaults: dict[str, Any] = {"name": "Standard", "first_response_minutes": 60,
                                "resolution_minutes": 8 * 60, "business_hours": False}
    return SlaPolicy.objects.create(company=tenant.company, **(defaults | values))


def open_chat(tenant: Tenant, when: datetime, body: str = "Hello") -> Conversation:
    with time_machine.travel(when, tick=False):
        visitor, _ = do_identify_visitor(tenant.widget, None)
        posted = do_post_visitor_message(visitor, client_id=f"v-{when.timestamp()}", body=body)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def reply(tenant: Tenant, conversation: Conversation, when: datetime) -> None:
    with time_machine.travel(when, tick=False):
        do_post_operator_message(tenant.membership(tenant.operators[0]), conversation,
                                 client_id=f"o-{when.timestamp()}", body="On it")


def customer(conversation: Conversation, when: datetime) -> None:
    with time_machine.travel(when, tick=False):
        do_post_visitor_message(conversation.visitor, client_id=f"c-{when.timestamp()}",
                                body="More")


def move(tenant: Tenant, conversation: Conversation, to: str, when: datetime) -> None:
    with time_machine.travel(when, tick=False):
        do_move_stage(tenant.membership(tenant.owner), conversation, to)


def clock(conversation: Conversation, target: str) -> SlaClock:
    return SlaClock.objects.get(conversation=conversation, target=target)


def fact_rows(tenant: Tenant) -> list[tuple[str, str, datetime, float]]:
    return [(f["target"], f["fact"], f["at"], f["elapsed_seconds"])
            for f in facts(tenant.company.pk, MON - timedelta(days=30),
                           MON + timedelta(days=30))]


def test_business_hours_arithmetic_over_a_weekend_and_a_holiday() -> None:
    from zoneinfo import ZoneInfo
    schedule = Schedule(tz=ZoneInfo("UTC"), weekly={d: [(time(9), time(17))] for d in range(5)},
                        holidays=frozenset({date(2026, 3, 9)}))
    friday_16 = datetime(2026, 3, 6, 16, tzinfo=UTC)
    # 1 h left on Friday, the weekend and Monday's holiday skipped: Tuesday 10:00.
    assert business.add(schedule, friday_16, 2 * 3600) == datetime(2026, 3, 10, 10, tzinfo=UTC)
    assert business.counted(schedule, friday_16, datetime(2026, 3, 10, 10, tzinfo=UTC)) == 7200
    assert business.remaining(schedule, datetime(2026, 3, 10, 11, tzinfo=UTC),
                              datetime(2026, 3, 10, 10, tzinfo=UTC)) == -3600
    assert business.add(business.WALL, friday_16, 60) == friday_16 + timedelta(minutes=1)


@pytest.mark.django_db
def test_first_response_and_resolution_met_in_wall_clock(acme: Tenant) -> None:
    policy(acme)
    conversation = open_chat(acme, at(MON, 9))
    summary = conversation_summary(Conversation.objects.get(pk=conversation.pk))
    assert summary["sla"]["target"] == "first_response"
    assert summary["sla_due_at"] == at(MON, 10).isoformat()
    reply(acme, conversation, at(MON, 9, 12))
    first = clock(conversation, "first_response")
    assert first.state == ClockState.STOPPED and first.breached_at is None
    assert first.target_seconds - (first.remaining_seconds or 0) == 12 * 60
    # Waiting on user pauses the resolution clock: 12 min counted so far.
    resolution = clock(conversation, "resolution")
    assert resolution.state == ClockState.PAUSED and resolution.remaining_seconds == 468 * 60
    assert fact_rows(acme) == [
        ("first_response", "start", at(MON, 9), 0), ("resolution", "start", at(MON, 9), 0),
        ("first_response", "stop", at(MON, 9, 12), 720),
        ("resolution", "pause", at(MON, 9, 12), 720)]


@pytest.mark.django_db
def test_business_hours_cross_a_weekend_and_a_holiday(acme: Tenant) -> None:
    office(acme, holidays=(date(2026, 3, 9),))  # the Monday after is a holiday
    policy(acme, first_response_minutes=120, business_hours=True)
    friday = MON + timedelta(days=4)
    conversation = open_chat(acme, at(friday, 16))
    first = clock(conversation, "first_response")
    assert first.due_at == datetime(2026, 3, 10, 10, tzinfo=UTC)  # Tuesday 10:00
    reply(acme, conversation, datetime(2026, 3, 10, 9, 30, tzinfo=UTC))
    first.refresh_from_db()
    # Friday 16–17 and Tuesday 9–9:30: 90 business minutes, met.
    assert first.state == ClockState.STOPPED and first.breached_at is None
    assert first.target_seconds - (first.remaining_seconds or 0) == 90 * 60


@pytest.mark.django_db
def test_hold_pauses_resolution_and_next_response_restarts(acme: Tenant) -> None:
    policy(acme, next_response_minutes=30)
    conversation = open_chat(acme, at(MON, 9))
    reply(acme, conversation, at(MON, 9, 10))            # 10 min counted, paused in WOU
    customer(conversation, at(MON, 10))                  # WOU → NR: next response starts
    assert clock(conversation, "next_response").due_at == at(MON, 10, 30)
    move(acme, conversation, Stage.HOLD, at(MON, 10, 5))  # Hold pauses both
    resolution = clock(conversation, "resolution")
    assert resolution.state == ClockState.PAUSED
    assert resolution.remaining_seconds == (480 - 15) * 60
    move(acme, conversation, Stage.NEEDS_RESPONSE, at(MON, 12))  # back: both resume
    assert clock(conversation, "next_response").due_at == at(MON, 12, 25)
    move(acme, conversation, Stage.RESOLVED, at(MON, 12, 20))
    resolution.refresh_from_db()
    assert resolution.state == ClockState.STOPPED
    assert resolution.target_seconds - (resolution.remaining_seconds or 0) == 35 * 60
    nxt = clock(conversation, "next_response")
    assert nxt.state == ClockState.STOPPED and nxt.remaining_seconds == 5 * 60


@pytest.mark.django_db
def test_suspended_time_is_not_counted(acme: Tenant) -> None:
    policy(acme)
    conversation = open_chat(acme, at(MON, 9))
    move(acme, conversation, Stage.SUSPENDED, at(MON, 9, 5))
    move(acme, conversation, Stage.NEW, at(MON, 11))   # two hours in Suspended
    first = clock(conversation, "first_response")
    assert first.due_at == at(MON, 11, 55)
    reply(acme, conversation, at(MON, 11, 10))
    first.refresh_from_db()
    assert first.target_seconds - (first.remaining_seconds or 0) == 15 * 60


@pytest.mark.django_db
def test_created_suspended_starts_when_released(acme: Tenant) -> None:
    policy(acme)
    conversation = open_chat(acme, at(MON, 9))
    Conversation.objects.filter(pk=conversation.pk).update(stage=Stage.SUSPENDED)
    SlaClock.objects.all().delete()
    move(acme, conversation, Stage.NEW, at(MON, 9, 20))
    assert clock(conversation, "first_response").started_at == at(MON, 9, 20)


@pytest.mark.django_db
def test_a_transfer_does_not_reset_the_clocks(acme: Tenant) -> None:
    from plug2support.conversations.actions.teamwork import do_reassign
    policy(acme)
    conversation = open_chat(acme, at(MON, 9))
    due = clock(conversation, "first_response").due_at
    with time_machine.travel(at(MON, 9, 30), tick=False):
        do_reassign(acme.membership(acme.owner), conversation, acme.operators[1].pk)
    assert clock(conversation, "first_response").due_at == due
    assert SlaClock.objects.filter(conversation=conversation).count() == 2


@pytest.mark.django_db
def test_reopen_resumes_the_resolution_clock(acme: Tenant) -> None:
    policy(acme, resolution_minutes=60)
    conversation = open_chat(acme, at(MON, 9))
    move(acme, conversation, Stage.RESOLVED, at(MON, 9, 20))   # New → Resolved: 20 min
    customer(conversation, at(MON, 14))                        # the customer reopens
    resolution = clock(conversation, "resolution")
    assert resolution.state == ClockState.RUNNING
    assert resolution.due_at == at(MON, 14, 40)  # 40 min were left
    assert SlaClock.objects.filter(conversation=conversation, target="resolution").count() == 1
    move(acme, conversation, Stage.RESOLVED, at(MON, 15))       # 20 min over
    resolution.refresh_from_db()
    assert resolution.breached_at == at(MON, 14, 40)
    assert resolution.remaining_seconds == -20 * 60
    kinds = [(t, f) for t, f, _, _ in fact_rows(acme) if t == "resolution"]
    assert kinds == [("resolution", "start"), ("resolution", "stop"), ("resolution", "resume"),
                     ("resolution", "breach"), ("resolution", "stop")]


@pytest.mark.django_db
def test_first_matching_policy_by_order_wins(acme: Tenant) -> None:
    from plug2support.conversations.models import Priority
    policy(acme, name="Urgent", position=0, applies_to="priority", priority=Priority.URGENT,
           first_response_minutes=5)
    general = policy(acme, name="All", position=1, first_response_minutes=90)
    conversation = open_chat(acme, at(MON, 9))  # an anonymous visitor: Low priority
    assert clock(conversation, "first_response").policy_id == general.pk
    assert clock(conversation, "first_response").target_seconds == 90 * 60


@pytest.mark.django_db
def test_no_policy_no_clock(acme: Tenant, globex: Tenant) -> None:
    policy(globex)
    conversation = open_chat(acme, at(MON, 9))
    assert not SlaClock.objects.exists()
    assert conversation_summary(Conversation.objects.get(pk=conversation.pk))["sla"] is None
