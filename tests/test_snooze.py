"""Snooze (M4): presets read in the company's time zone, the bounds, the Snoozed view and the
open views, the wake job (once, however many workers), the customer's message and e-mail
waking it at once, the history, the socket frame, and the other company refused."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.email import IncomingEmail, do_receive_email
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.snooze import (
    check_snooze_until,
    do_snooze,
    do_wake,
    preset_time,
    wake_due,
)
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.inbox import Filters, inbox_page
from plug2support.conversations.inbox.counts import company_counts, counts_for
from plug2support.conversations.models import Conversation, Event, EventKind, Stage
from plug2support.conversations.serializers import conversation_summary
from plug2support.notifications.models import Notification
from plug2support.ops.periodic import JOBS, tick

from .conftest import Tenant, make_tenant, open_operator, open_visitor

PARIS = ZoneInfo("Europe/Paris")
# A Friday, 17:30 in Paris.
FRIDAY = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)


def conversation_in(tenant: Tenant, stage: str = Stage.WAITING_ON_USER,
                    client_id: str = "v1") -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=client_id, body="Hello")
    Conversation.objects.filter(pk=posted.event.conversation_id).update(stage=stage)
    return Conversation.objects.select_related("widget", "visitor").get(
        pk=posted.event.conversation_id)


def ids_in(tenant: Tenant, view: str, user: Any = None) -> set[int]:
    member = tenant.membership(user or tenant.owner)
    return {c.pk for c in inbox_page(member, Filters(view=view))}


def kinds(conversation: Conversation) -> list[str]:
    return list(Event.objects.filter(conversation=conversation).values_list("kind", flat=True))


# --- presets and bounds ------------------------------------------------------------------

def test_presets_are_read_in_the_company_time_zone() -> None:
    assert preset_time("in_1_hour", FRIDAY, PARIS) == FRIDAY + timedelta(hours=1)
    # 17:30 in Paris: this evening is 18:00 Paris today (17:00 UTC).
    assert preset_time("this_evening", FRIDAY, PARIS) == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    # Past 18:00 in Paris: tomorrow evening.
    late = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)
    assert preset_time("this_evening", late, PARIS) == datetime(2026, 12, 5, 17, 0, tzinfo=UTC)
    assert preset_time("tomorrow_morning", FRIDAY, PARIS) == datetime(2026, 12, 5, 8, 0,
                                                                      tzinfo=UTC)
    assert preset_time("next_monday", FRIDAY, PARIS) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    # On a Monday, next Monday is a week on; late on Sunday in Paris, it is the next day
    # (already Monday in Tokyo, where it is a week on).
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert preset_time("next_monday", monday, PARIS) == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    sunday_night = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
    assert preset_time("next_monday", sunday_night, PARIS).date() == datetime(2026, 12, 7).date()
    tokyo = preset_time("next_monday", sunday_night, ZoneInfo("Asia/Tokyo"))
    assert tokyo == datetime(2026, 12, 14, 0, 0, tzinfo=UTC)  # 9:00 in Tokyo


def test_a_preset_across_a_daylight_saving_change_keeps_the_wall_clock() -> None:
    new_york = ZoneInfo("America/New_York")
    saturday = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # noon, summer time (UTC−4)
    # Summer time ends that night: 9:00 on Sunday is 14:00 UTC (UTC−5), not 13:00.
    assert preset_time("tomorrow_morning", saturday, new_york) == datetime(
        2026, 11, 1, 14, 0, tzinfo=UTC)


@time_machine.travel(FRIDAY, tick=False)
def test_snooze_until_a_preset_uses_the_widget_time_zone(acme: Tenant) -> None:
    acme.widget.timezone = "Europe/Paris"
    acme.widget.save()
    conversation = conversation_in(acme)
    event = do_snooze(acme.membership(acme.operators[0]), conversation, preset="next_monday")
    conversation.refresh_from_db()
    assert conversation.snoozed_until == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert conversation.snoozed_by == acme.operators[0]
    assert event.kind == EventKind.SNOOZED and event.staff_only
    assert event.body == "Acme Op0 snoozed it until Mon 07 Dec 2026, 09:00 (Europe/Paris)"


@time_machine.travel(FRIDAY, tick=False)
@pytest.mark.parametrize(("options", "code"), [
    ({"until": "2026-12-04T16:29:00+00:00"}, "snooze_in_past"),
    ({"until": (FRIDAY).isoformat()}, "snooze_in_past"),
    ({"until": (FRIDAY + timedelta(days=366)).isoformat()}, "snooze_too_far"),
    ({"until": "next tuesday"}, "invalid_snooze"),
    ({"until": "2026-12-06"}, "invalid_snooze"),  # a date without a time
    ({"until": 1733333333}, "invalid_snooze"),
    ({"until": None}, "invalid_snooze"),
    ({"preset": "someday"}, "invalid_snooze"),
    ({"preset": ["in_1_hour"]}, "invalid_snooze"),
])
def test_bad_snoozes_are_refused_and_change_nothing(acme: Tenant, options: dict[str, Any],
                                                    code: str) -> None:
    conversation = conversation_in(acme)
    before = kinds(conversation)
    with pytest.raises(ConversationError) as error:
        do_snooze(acme.membership(acme.owner), conversation, **options)
    assert error.value.code == code and error.value.message
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None and kinds(conversation) == before


@time_machine.travel(FRIDAY, tick=False)
def test_a_year_is_the_limit_and_a_time_without_offset_is_the_companys(acme: Tenant) -> None:
    acme.widget.timezone = "Europe/Paris"
    acme.widget.save()
    conversation = conversation_in(acme)
    do_snooze(acme.membership(acme.owner), conversation,
              until=(FRIDAY + timedelta(days=365)).isoformat())
    do_snooze(acme.membership(acme.owner), conversation, until="2026-12-05T10:00")
    conversation.refresh_from_db()
    assert conversation.snoozed_until == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert kinds(conversation).count(EventKind.SNOOZED) == 2  # snoozing again moves the time


@time_machine.travel(FRIDAY, tick=False)
@pytest.mark.parametrize("stage", [Stage.SUSPENDED, Stage.RESOLVED, Stage.ARCHIVED])
def test_only_conversations_being_worked_on_can_be_snoozed(acme: Tenant, stage: str) -> None:
    conversation = conversation_in(acme, stage)
    with pytest.raises(ConversationError) as error:
        do_snooze(acme.membership(acme.owner), conversation, preset="in_1_hour")
    assert error.value.code == "not_snoozable"
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None


# --- the views ---------------------------------------------------------------------------

@time_machine.travel(FRIDAY, tick=False)
def test_a_snoozed_conversation_leaves_the_open_views_for_snoozed(acme: Tenant,
                                                                  globex: Tenant) -> None:
    alice = acme.operators[0]
    snoozed = conversation_in(acme, Stage.NEEDS_RESPONSE, "a")
    other = conversation_in(acme, Stage.NEEDS_RESPONSE, "b")
    foreign = conversation_in(globex, Stage.NEEDS_RESPONSE)
    Conversation.objects.filter(pk__in=[snoozed.pk, other.pk]).update(assignee=alice)
    do_snooze(acme.membership(alice), snoozed, preset="in_1_hour")
    for view in ("all_open", "needs_my_reply"):
        assert ids_in(acme, view, alice) == {other.pk}
    assert ids_in(acme, "snoozed") == {snoozed.pk}
    # Mine and All show closed conversations too: a snoozed one stays there, marked.
    assert ids_in(acme, "mine", alice) == {snoozed.pk, other.pk}
    assert ids_in(acme, "all") == {snoozed.pk, other.pk}
    summary = conversation_summary(Conversation.objects.select_related(
        "widget", "visitor", "assignee", "group").get(pk=snoozed.pk))
    assert summary["snoozed_until"] == (FRIDAY + timedelta(hours=1)).isoformat()
    assert "snoozed" in summary["views"] and "all_open" not in summary["views"]
    # Globex's views know nothing of it.
    assert ids_in(globex, "snoozed") == set() and ids_in(globex, "all_open") == {foreign.pk}


@time_machine.travel(FRIDAY, tick=False)
def test_the_view_counts_count_snoozed_apart_from_the_open_views(acme: Tenant,
                                                                 globex: Tenant) -> None:
    """The counts (M7) are built over the same view definitions: a snoozed conversation
    counts in Snoozed and in none of the open views; another company's in neither."""
    alice = acme.operators[0]
    snoozed, waiting = conversation_in(acme, Stage.NEEDS_RESPONSE, "a"), conversation_in(
        acme, Stage.NEEDS_RESPONSE, "b")
    Conversation.objects.filter(pk__in=[snoozed.pk, waiting.pk]).update(assignee=alice)
    do_snooze(globex.membership(globex.owner), conversation_in(globex), preset="in_1_hour")
    do_snooze(acme.membership(alice), snoozed, preset="in_1_hour")
    counts = counts_for(company_counts(acme.company.pk), alice.pk)
    assert (counts["snoozed"], counts["all_open"], counts["needs_my_reply"],
            counts["mine"], counts["all"]) == (1, 1, 1, 2, 2)


@time_machine.travel(FRIDAY, tick=False)
def test_an_unassigned_snoozed_conversation_is_not_unassigned_meanwhile(acme: Tenant) -> None:
    conversation = conversation_in(acme, Stage.NEW)
    assert ids_in(acme, "unassigned") == {conversation.pk}
    do_snooze(acme.membership(acme.owner), conversation, preset="tomorrow_morning")
    assert ids_in(acme, "unassigned") == set()


# --- waking ------------------------------------------------------------------------------

def test_the_job_wakes_each_due_conversation_once_of_every_company(acme: Tenant,
                                                                   globex: Tenant) -> None:
    alice = acme.operators[0]
    with time_machine.travel(FRIDAY, tick=False):
        waiting = conversation_in(acme, Stage.WAITING_ON_USER, "a")
        Conversation.objects.filter(pk=waiting.pk).update(assignee=alice)
        held = conversation_in(acme, Stage.HOLD, "b")
        later = conversation_in(acme, Stage.NEEDS_RESPONSE, "c")
        foreign = conversation_in(globex, Stage.NEW)
        do_snooze(acme.membership(acme.owner), waiting, preset="in_1_hour")
        do_snooze(acme.membership(acme.owner), held, preset="in_1_hour")
        do_snooze(acme.membership(acme.owner), later, preset="tomorrow_morning")
        do_snooze(globex.membership(globex.owner), foreign, preset="in_1_hour")
    # A minute early: nothing is due.
    assert wake_due(FRIDAY + timedelta(minutes=59)) == {"woken": 0}
    slot = FRIDAY + timedelta(hours=1)
    with time_machine.travel(slot, tick=False):
        assert wake_due(slot) == {"woken": 3}
        assert wake_due(slot) == {"woken": 0}  # the same slot again changes nothing
    for c in (waiting, held, later, foreign):
        c.refresh_from_db()
    assert (waiting.snoozed_until, held.snoozed_until, foreign.snoozed_until) == (None,) * 3
    assert later.snoozed_until is not None
    # Waiting on the user comes back as needing a response; Hold still waits (E2); New is New.
    assert (waiting.stage, held.stage, foreign.stage) == (
        Stage.NEEDS_RESPONSE, Stage.HOLD, Stage.NEW)
    assert kinds(waiting)[-2:] == [EventKind.WOKEN, EventKind.STAGE_CHANGED]
    assert kinds(held)[-1] == EventKind.WOKEN
    assert ids_in(acme, "all_open") >= {waiting.pk, held.pk}
    # Whoever serves it (else who snoozed it) is told it is back.
    told = Notification.objects.filter(kind="snooze_ended")
    assert sorted(told.values_list("user_id", "company_id")) == sorted([
        (alice.pk, acme.company.pk), (acme.owner.pk, acme.company.pk),
        (globex.owner.pk, globex.company.pk)])


@pytest.mark.django_db(transaction=True)
def test_two_workers_waking_at_once_wake_each_conversation_once() -> None:
    acme = make_tenant("Acme")
    with time_machine.travel(FRIDAY, tick=False):
        conversations = [conversation_in(acme, Stage.WAITING_ON_USER, f"v{i}")
                         for i in range(6)]
        for c in conversations:
            do_snooze(acme.membership(acme.owner), c, preset="in_1_hour")
    slot = FRIDAY + timedelta(hours=1)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(wake_due(slot)["woken"])
        except Exception as error:  # shown by the assertion below
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(map(type, results), key=str) == [int, int], results
    assert sum(results) == 6
    for c in conversations:
        assert kinds(c).count(EventKind.WOKEN) == 1
        assert kinds(c).count(EventKind.STAGE_CHANGED) == 1
    assert Conversation.objects.filter(snoozed_until__isnull=False).count() == 0


def test_the_wake_job_is_registered_and_runs_from_tick(acme: Tenant) -> None:
    job = next(j for j in JOBS if j.name == "conversations.wake_snoozed")
    with time_machine.travel(FRIDAY, tick=False):
        conversation = conversation_in(acme)
        do_snooze(acme.membership(acme.owner), conversation, preset="in_1_hour")
    at = FRIDAY + timedelta(hours=1, seconds=20)
    with time_machine.travel(at, tick=False):
        assert tick(now=at, jobs=[job]) == [(job.name, FRIDAY + timedelta(hours=1))]
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None and conversation.stage == Stage.NEEDS_RESPONSE


@time_machine.travel(FRIDAY, tick=False)
def test_the_customer_writing_wakes_it_at_once(acme: Tenant) -> None:
    conversation = conversation_in(acme, Stage.WAITING_ON_USER)
    do_snooze(acme.membership(acme.owner), conversation, preset="next_monday")
    do_post_visitor_message(conversation.visitor, client_id="v2", body="Any news?")
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None and conversation.snoozed_by is None
    assert conversation.stage == Stage.NEEDS_RESPONSE  # the message's own move
    assert kinds(conversation)[-3:] == [EventKind.MESSAGE, EventKind.WOKEN,
                                        EventKind.STAGE_CHANGED]
    woken = Event.objects.get(conversation=conversation, kind=EventKind.WOKEN)
    assert woken.body == "The snooze ended (the customer wrote)" and woken.staff_only
    assert conversation.pk in ids_in(acme, "all_open")
    # A later message of an unsnoozed conversation records no wake.
    do_post_visitor_message(conversation.visitor, client_id="v3", body="Hello?")
    assert kinds(conversation).count(EventKind.WOKEN) == 1


@time_machine.travel(FRIDAY, tick=False)
def test_a_customer_email_wakes_it_too(acme: Tenant) -> None:
    conversation = conversation_in(acme, Stage.WAITING_ON_USER)
    do_snooze(acme.membership(acme.owner), conversation, preset="in_1_hour")
    mail = IncomingEmail(text="Still broken", client_id="mail-1", subject="Re: help",
                         details={"direction": "in"})
    do_receive_email(conversation.visitor, mail, conversation_id=conversation.pk)
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None and conversation.stage == Stage.NEEDS_RESPONSE
    assert Event.objects.get(conversation=conversation, kind=EventKind.WOKEN).body == (
        "The snooze ended (the customer wrote by e-mail)")


@time_machine.travel(FRIDAY, tick=False)
def test_waking_by_hand_and_resolving_end_the_snooze(acme: Tenant) -> None:
    owner = acme.membership(acme.owner)
    conversation = conversation_in(acme, Stage.WAITING_ON_USER)
    with pytest.raises(ConversationError) as error:
        do_wake(owner, conversation)
    assert error.value.code == "not_snoozed"
    do_snooze(owner, conversation, preset="in_1_hour")
    event = do_wake(owner, conversation)
    assert event.body == "Acme Owner ended the snooze (woken by hand)"
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None
    assert conversation.stage == Stage.WAITING_ON_USER  # a person looking decides the stage
    do_snooze(owner, conversation, preset="in_1_hour")
    do_move_stage(owner, conversation, Stage.RESOLVED)
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None  # closed: nothing is to come back
    assert wake_due(FRIDAY + timedelta(hours=2)) == {"woken": 0}


# --- the socket --------------------------------------------------------------------------

def test_snooze_and_wake_over_the_socket(live: str) -> None:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    visitor, _ = open_visitor(live, acme.widget)
    cid = visitor.request({"type": "message", "client_id": "v", "body": "Hi"})["conversation"]
    alice = open_operator(live, acme.operators[0])
    bob = open_operator(live, acme.operators[1])
    until = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    reply = alice.request({"type": "snooze", "conversation": cid, "until": until.isoformat()})
    assert reply["type"] == "snoozed" and reply["snoozed_until"] == until.isoformat()
    # Every console hears the summary: out of All open, into Snoozed.
    summary = bob.recv_until(lambda f: f["type"] == "conversation"
                             and f["conversation"]["snoozed_until"])["conversation"]
    assert "snoozed" in summary["views"] and "all_open" not in summary["views"]
    # A bad time is an error frame naming the reason.
    past = alice.request({"type": "snooze", "conversation": cid, "until": "2020-01-01T00:00Z"})
    assert past["type"] == "error" and past["code"] == "snooze_in_past"
    # The other company cannot snooze or wake it.
    intruder = open_operator(live, globex.owner)
    for frame in ({"preset": "in_1_hour"}, {"wake": True}):
        refused = intruder.request({"type": "snooze", "conversation": cid, **frame})
        assert refused["code"] == "not_found"
    woke = alice.request({"type": "snooze", "conversation": cid, "wake": True})
    assert woke["type"] == "snoozed" and woke["snoozed_until"] is None
    back = bob.recv_until(lambda f: f["type"] == "conversation"
                          and f["conversation"]["snoozed_until"] is None)["conversation"]
    assert "all_open" in back["views"]
    # The customer never hears of it: no event of its kinds reaches the widget.
    visitor.request({"type": "message", "client_id": "v2", "body": "ok"})
    assert Conversation.objects.get(pk=cid).snoozed_until is None
    assert all(f.get("kind") not in ("snoozed", "woken") for f in visitor.backlog)


# --- arbitrary input ---------------------------------------------------------------------

JSONISH = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60) \
    | st.lists(st.text(max_size=5), max_size=3) | st.dictionaries(st.text(max_size=3),
                                                                   st.integers(), max_size=2)


@given(until=JSONISH | st.datetimes(timezones=st.none() | st.just(UTC)).map(
    lambda d: d.isoformat()), preset=st.none() | JSONISH)
@settings(max_examples=60, deadline=None)
def test_any_until_or_preset_is_a_moment_in_bounds_or_a_clear_refusal(until: Any,
                                                                        preset: Any) -> None:
    try:
        moment = check_snooze_until(until, preset, FRIDAY, PARIS)
    except ConversationError as error:
        assert error.code in {"invalid_snooze", "snooze_in_past", "snooze_too_far"}
        assert error.message
    else:
        assert FRIDAY < moment <= FRIDAY + timedelta(days=365) and moment.tzinfo is not None


@time_machine.travel(FRIDAY, tick=False)
def test_a_moment_given_with_any_offset_is_kept_and_answered_in_utc(acme: Tenant) -> None:
    conversation = conversation_in(acme)
    do_snooze(acme.membership(acme.owner), conversation, until="2026-12-05T10:00:00+14:00")
    conversation.refresh_from_db()
    assert conversation.snoozed_until == datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    assert conversation_summary(conversation)["snoozed_until"] == "2026-12-04T20:00:00+00:00"
