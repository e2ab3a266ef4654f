"""Conversations and messages at the action level: sequence numbers, idempotent resends,
limits, and the atomic claim (C1, C2, C8)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    VISITOR_MESSAGES_PER_WINDOW,
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import do_claim
from plug2support.conversations.actions.visitors import current_conversation, do_identify_visitor
from plug2support.conversations.models import Conversation, Event, EventKind

from .conftest import Tenant


def test_first_visitor_message_creates_a_conversation_with_seq_one(acme: Tenant) -> None:
    visitor, _token = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="m1", body="Hello")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    assert conversation.company == acme.company
    assert conversation.stage == "new"
    assert conversation.assignee is None
    assert posted.event.seq == 1
    assert not posted.duplicate


def test_each_event_takes_the_next_sequence_number(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    seqs = [do_post_visitor_message(visitor, client_id=f"m{i}", body=f"hi {i}").event.seq
            for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]


def test_a_resent_client_id_is_stored_once(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    first = do_post_visitor_message(visitor, client_id="same", body="Hello")
    again = do_post_visitor_message(visitor, client_id="same", body="Hello")
    assert again.duplicate
    assert again.event.pk == first.event.pk
    assert Event.objects.filter(kind=EventKind.MESSAGE).count() == 1


def test_a_resend_finds_its_own_message_among_others(acme: Tenant) -> None:
    """The resend check is the visitor's own client id in the current conversation: not
    another message of theirs, not an operator's message that happens to use the same id."""
    visitor, _ = do_identify_visitor(acme.widget, None)
    first = do_post_visitor_message(visitor, client_id="a", body="Hello")
    do_post_visitor_message(visitor, client_id="b", body="Anyone?")
    conversation = Conversation.objects.get(pk=first.event.conversation_id)
    do_claim(acme.membership(acme.operators[0]), conversation)
    do_post_operator_message(acme.membership(acme.operators[0]), conversation,
                             client_id="c", body="Hi, how can I help?")
    again = do_post_visitor_message(visitor, client_id="a", body="Hello")
    assert again.duplicate and again.event.pk == first.event.pk and again.event.seq == 1
    mine = do_post_visitor_message(visitor, client_id="c", body="My order")
    assert not mine.duplicate and mine.event.body == "My order"
    assert Event.objects.filter(conversation=conversation, kind=EventKind.MESSAGE).count() == 4


def test_the_visitor_token_brings_back_the_same_visitor_and_conversation(acme: Tenant) -> None:
    visitor, token = do_identify_visitor(acme.widget, None)
    do_post_visitor_message(visitor, client_id="a", body="Hello")
    again, same_token = do_identify_visitor(acme.widget, token)
    assert again.pk == visitor.pk and same_token == token
    conversation = current_conversation(again)
    assert conversation is not None
    assert conversation.events.count() == 1


def test_a_visitor_token_of_another_widget_is_a_new_visitor(acme: Tenant, globex: Tenant) -> None:
    visitor, token = do_identify_visitor(acme.widget, None)
    other, other_token = do_identify_visitor(globex.widget, token)
    assert other.pk != visitor.pk and other_token != token
    assert other.widget == globex.widget


@pytest.mark.parametrize("body,code", [("", "empty_message"), ("   ", "empty_message"),
                                       (None, "empty_message"), ("x" * 5001, "message_too_long")])
def test_bad_messages_are_refused_and_change_nothing(acme: Tenant, body: Any, code: str) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    with pytest.raises(ConversationError) as error:
        do_post_visitor_message(visitor, client_id="x", body=body)
    assert error.value.code == code
    if code == "message_too_long":
        assert "5000" in error.value.message
    assert not Conversation.objects.exists()


def test_a_client_id_must_be_a_short_string(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    for bad in (None, "", 7, "x" * 65):
        with pytest.raises(ConversationError) as error:
            do_post_visitor_message(visitor, client_id=bad, body="hi")
        assert error.value.code == "invalid_client_id"


def test_a_flood_of_visitor_messages_is_rate_limited(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    for i in range(VISITOR_MESSAGES_PER_WINDOW):
        do_post_visitor_message(visitor, client_id=f"m{i}", body="spam")
    with pytest.raises(ConversationError) as error:
        do_post_visitor_message(visitor, client_id="one-more", body="spam")
    assert error.value.code == "rate_limited"
    assert Event.objects.count() == VISITOR_MESSAGES_PER_WINDOW


def _conversation(tenant: Tenant) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="c1", body="Help!")
    return Conversation.objects.get(pk=posted.event.conversation_id)


def test_claiming_makes_the_operator_serve_and_records_an_event(acme: Tenant) -> None:
    conversation = _conversation(acme)
    alice = acme.membership(acme.operators[0])
    event = do_claim(alice, conversation)
    conversation.refresh_from_db()
    assert conversation.assignee == alice.user
    assert event.kind == EventKind.CLAIMED and event.seq == 2


def test_a_second_claim_is_told_who_serves(acme: Tenant) -> None:
    conversation = _conversation(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    do_claim(alice, conversation)
    with pytest.raises(ConversationError) as error:
        do_claim(bob, conversation)
    assert error.value.code == "already_served"
    assert error.value.details["served_by"] == {"id": alice.user.pk, "name": alice.user.name}


def test_an_operator_cannot_reply_to_a_visitor_someone_else_serves(acme: Tenant) -> None:
    conversation = _conversation(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    do_claim(alice, conversation)
    with pytest.raises(ConversationError) as error:
        do_post_operator_message(bob, conversation, client_id="b1", body="Hi")
    assert error.value.code == "already_served"
    assert conversation.events.filter(kind=EventKind.MESSAGE).count() == 1


def test_replying_to_a_waiting_conversation_claims_it(acme: Tenant) -> None:
    conversation = _conversation(acme)
    alice = acme.membership(acme.operators[0])
    posted = do_post_operator_message(alice, conversation, client_id="a1", body="Hi!")
    conversation.refresh_from_db()
    assert conversation.assignee == alice.user
    kinds = list(conversation.events.order_by("seq").values_list("kind", "seq"))
    assert kinds == [("message", 1), ("claimed", 2), ("message", 3), ("stage_changed", 4)]
    assert posted.event.seq == 3


@pytest.mark.django_db(transaction=True)
def test_second_claim_loses_when_two_operators_claim_at_once(acme: Tenant) -> None:
    """Two threads, two real database connections, released together by a barrier."""
    conversation = _conversation(acme)
    members = [acme.membership(u) for u in acme.operators]
    barrier = threading.Barrier(len(members))
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(membership: Any) -> None:
        try:
            barrier.wait(timeout=10)
            do_claim(membership, conversation)
            result = f"won:{membership.user_id}"
        except ConversationError as error:
            result = f"lost:{error.code}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=claim, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["lost", "won"]
    assert "lost:already_served" in outcomes
    conversation.refresh_from_db()
    winner = next(o for o in outcomes if o.startswith("won")).split(":")[1]
    assert conversation.assignee_id == int(winner)
    assert conversation.events.filter(kind=EventKind.CLAIMED).count() == 1
