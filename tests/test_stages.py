"""The conversation's life (D1–D6): the transition table, tested for every pair of stages;
the automatic moves through real messages; one winner when two people move at once; and the
metrics against hand-computed timelines, a reopen included."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest
import time_machine
from django.db import connection

from plug2support.conversations import stages
from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.actions.visitors import current_conversation, do_identify_visitor
from plug2support.conversations.metrics import compute, for_conversation
from plug2support.conversations.models import Conversation, Stage, StageChange

from .conftest import Tenant

ALL = [s.value for s in Stage]
# The table as the product promises it (docs/metrics.md and the seed's state machine).
ALLOWED = {
    ("new", "suspended"), ("new", "waiting_on_user"), ("new", "resolved"), ("new", "archived"),
    ("suspended", "new"), ("suspended", "archived"),
    ("waiting_on_user", "needs_response"), ("waiting_on_user", "hold"),
    ("waiting_on_user", "resolved"),
    ("needs_response", "waiting_on_user"), ("needs_response", "hold"),
    ("needs_response", "resolved"),
    ("hold", "needs_response"), ("hold", "waiting_on_user"), ("hold", "resolved"),
    ("resolved", "needs_response"), ("resolved", "archived"),
}


def new_conversation(tenant: Tenant, stage: str = "new") -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v1", body="Hello")
    Conversation.objects.filter(pk=posted.event.conversation_id).update(stage=stage)
    return Conversation.objects.get(pk=posted.event.conversation_id)


@pytest.mark.parametrize("current,target", list(product(ALL, ALL)))
def test_every_pair_of_stages_is_allowed_or_refused_by_the_table(
        acme: Tenant, current: str, target: str) -> None:
    conversation = new_conversation(acme, current)
    owner = acme.membership(acme.owner)
    if (current, target) in ALLOWED:
        do_move_stage(owner, conversation, target)
        conversation.refresh_from_db()
        assert conversation.stage == target
        change = StageChange.objects.get()
        assert (change.from_stage, change.to_stage, change.by) == (current, target, acme.owner)
    else:
        with pytest.raises(ConversationError) as error:
            do_move_stage(owner, conversation, target)
        assert error.value.code == "illegal_move"
        assert "cannot move" in error.value.message
        conversation.refresh_from_db()
        assert conversation.stage == current and not StageChange.objects.exists()


def test_the_table_in_code_is_the_documented_one() -> None:
    assert {(a, b) for a, moves in stages.MANUAL_MOVES.items() for b in moves} == ALLOWED


def test_unknown_stage_and_foreign_membership(acme: Tenant) -> None:
    conversation = new_conversation(acme)
    with pytest.raises(ConversationError) as error:
        do_move_stage(acme.membership(acme.owner), conversation, "done")
    assert error.value.code == "unknown_stage"


def test_the_automatic_moves_through_real_messages(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    cid = do_post_visitor_message(visitor, client_id="v1", body="Hi").event.conversation_id
    conversation = Conversation.objects.get(pk=cid)
    alice = acme.membership(acme.operators[0])

    def stage() -> str:
        return Conversation.objects.values_list("stage", flat=True).get(pk=cid)

    assert stage() == "new"
    do_post_visitor_message(visitor, client_id="v2", body="Anyone?")
    assert stage() == "new"  # the customer writing again leaves it New
    do_post_operator_message(alice, conversation, client_id="a1", body="Hello!")
    assert stage() == "waiting_on_user"  # the team's first reply
    do_post_visitor_message(visitor, client_id="v3", body="My order is late")
    assert stage() == "needs_response"  # customer reply in WOU
    do_post_operator_message(alice, conversation, client_id="a2", body="Checking")
    assert stage() == "waiting_on_user"  # team reply in NR
    do_move_stage(alice, conversation, "resolved")
    do_add_note(alice, conversation, client_id="n1", body="done")
    assert stage() == "resolved"  # a note changes nothing
    do_post_visitor_message(visitor, client_id="v4", body="It came, but broken")
    assert stage() == "needs_response"  # a reply reopens a Resolved conversation
    moves = list(StageChange.objects.values_list("from_stage", "to_stage", "by"))
    assert moves == [
        ("new", "waiting_on_user", None), ("waiting_on_user", "needs_response", None),
        ("needs_response", "waiting_on_user", None),
        ("waiting_on_user", "resolved", alice.user_id),
        ("resolved", "needs_response", None),
    ]


def test_a_resolved_conversation_stays_in_the_widget_and_an_archived_one_does_not(
        acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    cid = do_post_visitor_message(visitor, client_id="v", body="Hi").event.conversation_id
    conversation = Conversation.objects.get(pk=cid)
    owner = acme.membership(acme.owner)
    do_move_stage(owner, conversation, "resolved")
    assert current_conversation(visitor).pk == cid  # type: ignore[union-attr]
    do_move_stage(owner, conversation, "archived")
    assert current_conversation(visitor) is None
    nxt = do_post_visitor_message(visitor, client_id="v2", body="New question")
    assert nxt.event.conversation_id != cid


def test_a_stale_move_is_refused(acme: Tenant) -> None:
    conversation = new_conversation(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    do_move_stage(alice, conversation, "resolved", expected="new")
    with pytest.raises(ConversationError) as error:
        do_move_stage(bob, conversation, "suspended", expected="new")
    assert error.value.code == "stage_conflict" and error.value.details["stage"] == "resolved"
    assert StageChange.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_operators_moving_at_once_one_wins_and_history_has_one_entry(
        acme: Tenant) -> None:
    conversation = new_conversation(acme)
    members = [acme.membership(u) for u in acme.operators]
    targets = ["resolved", "suspended"]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def move(membership: Any, target: str) -> None:
        try:
            barrier.wait(timeout=10)
            do_move_stage(membership, conversation, target, expected="new")
            outcomes.append("won")
        except ConversationError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(m, t)) for m, t in zip(members, targets,
                                                                           strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["stage_conflict", "won"]
    assert StageChange.objects.filter(conversation=conversation).count() == 1


# --- metrics against hand-computed timelines ----------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def change(minutes: float, a: str, b: str) -> StageChange:
    return StageChange(from_stage=a, to_stage=b, at=T0 + timedelta(minutes=minutes))


def test_first_response_and_resolution_from_a_simple_timeline() -> None:
    m = compute(T0, "new", [change(12, "new", "waiting_on_user"),
                            change(30, "waiting_on_user", "needs_response"),
                            change(45, "needs_response", "resolved")])
    assert m.first_response == timedelta(minutes=12)
    assert m.resolution == timedelta(minutes=45)


def test_a_reopen_stops_the_resolution_until_resolved_again() -> None:
    timeline = [change(5, "new", "waiting_on_user"), change(60, "waiting_on_user", "resolved"),
                change(120, "resolved", "needs_response")]
    assert compute(T0, "new", timeline).resolution is None
    timeline.append(change(150, "needs_response", "resolved"))
    again = compute(T0, "new", timeline)
    assert again.resolution == timedelta(minutes=150)  # to the last resolution
    assert again.first_response == timedelta(minutes=5)  # the first response stays
    timeline.append(change(200, "resolved", "archived"))
    assert compute(T0, "new", timeline).resolution == timedelta(minutes=150)


def test_time_in_suspended_does_not_count() -> None:
    # Created as spam, released by a reviewer at 20 min: the clock starts then.
    m = compute(T0, "suspended", [change(20, "suspended", "new"),
                                  change(50, "new", "waiting_on_user")])
    assert m.first_response == timedelta(minutes=30)
    # Suspended for 10 minutes after it started: those minutes are not counted.
    m = compute(T0, "new", [change(5, "new", "suspended"), change(15, "suspended", "new"),
                            change(25, "new", "waiting_on_user"),
                            change(40, "waiting_on_user", "resolved")])
    assert m.first_response == timedelta(minutes=15)
    assert m.resolution == timedelta(minutes=30)


def test_no_first_response_yet() -> None:
    assert compute(T0, "new", []).first_response is None
    assert compute(T0, "suspended", []).started_at is None


def test_metrics_of_a_real_conversation(acme: Tenant) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        visitor, _ = do_identify_visitor(acme.widget, None)
        posted = do_post_visitor_message(visitor, client_id="v", body="Hi")
        conversation = Conversation.objects.get(pk=posted.event.conversation_id)
        clock.shift(timedelta(minutes=7))
        do_post_operator_message(acme.membership(acme.operators[0]), conversation,
                                 client_id="a", body="Hello")
        clock.shift(timedelta(minutes=33))
        do_move_stage(acme.membership(acme.operators[0]), conversation, "resolved")
    m = for_conversation(conversation)
    assert m.as_dict() == {"first_response_seconds": 420.0, "resolution_seconds": 2400.0}


def test_moving_over_the_socket_and_refusals(live: str) -> None:
    from .conftest import make_tenant, open_operator, open_visitor

    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    visitor, _ = open_visitor(live, acme.widget)
    cid = visitor.request({"type": "message", "client_id": "v", "body": "Hi"})["conversation"]
    alice = open_operator(live, acme.operators[0])
    moved = alice.request({"type": "move", "conversation": cid, "to": "resolved",
                           "expected": "new"})
    assert moved["type"] == "moved" and moved["stage"] == "resolved"
    assert moved["metrics"]["resolution_seconds"] is not None
    summary = alice.recv_until(lambda f: f["type"] == "conversation"
                               and f["conversation"]["stage"] == "resolved")
    assert summary["conversation"]["id"] == cid
    illegal = alice.request({"type": "move", "conversation": cid, "to": "hold"})
    assert illegal["code"] == "illegal_move" and illegal["stage"] == "resolved"
    stale = alice.request({"type": "move", "conversation": cid, "to": "archived",
                           "expected": "new"})
    assert stale["code"] == "stage_conflict"
    intruder = open_operator(live, globex.owner)
    assert intruder.request({"type": "move", "conversation": cid,
                             "to": "archived"})["code"] == "not_found"
    assert Conversation.objects.get(pk=cid).stage == "resolved"
