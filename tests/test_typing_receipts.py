"""Typing indicators (throttled, never stored) and delivered/read state (C4), over real
sockets, with a second company that hears nothing."""

from __future__ import annotations

from typing import Any

import pytest

from plug2support.conversations.actions.messages import do_post_visitor_message, do_record_receipt
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Event

from .conftest import Tenant, make_tenant, open_operator, open_visitor


@pytest.fixture
def chat(live: str) -> dict[str, Any]:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    visitor, welcome = open_visitor(live, acme.widget)
    cid = visitor.request({"type": "message", "client_id": "v1", "body": "Hi"})["conversation"]
    alice = open_operator(live, acme.operators[0])
    alice.request({"type": "claim", "conversation": cid})
    alice.request({"type": "subscribe", "conversation": cid, "after": 0})
    return {"acme": acme, "globex": globex, "visitor": visitor, "alice": alice, "cid": cid}


def test_typing_is_heard_by_the_other_side_and_never_stored(live: str, chat: Any) -> None:
    visitor, alice, cid = chat["visitor"], chat["alice"], chat["cid"]
    events_before = Event.objects.count()
    visitor.send({"type": "typing"})
    heard = alice.recv_until(lambda f: f["type"] == "typing")
    assert heard["conversation"] == cid and heard["who"]["type"] == "visitor"
    alice.send({"type": "typing", "conversation": cid})
    seen = visitor.recv_until(lambda f: f["type"] == "typing")
    assert seen["who"]["name"] == chat["acme"].operators[0].name
    assert Event.objects.count() == events_before


def test_typing_a_note_is_not_shown_to_the_visitor(live: str, chat: Any) -> None:
    visitor, alice, cid = chat["visitor"], chat["alice"], chat["cid"]
    bob = open_operator(live, chat["acme"].operators[1])
    bob.request({"type": "subscribe", "conversation": cid, "after": 0})
    alice.send({"type": "typing", "conversation": cid, "note": True})
    assert bob.recv_until(lambda f: f["type"] == "typing")["who"]["note"] is True
    visitor.request({"type": "ping"})
    assert not [f for f in visitor.backlog if f["type"] == "typing"]


def test_typing_is_throttled_per_socket(live: str, chat: Any) -> None:
    visitor, alice = chat["visitor"], chat["alice"]
    for _ in range(5):
        visitor.send({"type": "typing"})
    visitor.request({"type": "ping"})  # the five were handled before this answer
    alice.recv_until(lambda f: f["type"] == "typing")
    alice.request({"type": "ping"})
    assert [f for f in alice.backlog if f["type"] == "typing"] == []


def test_receipts_rise_are_published_and_never_fall(live: str, chat: Any) -> None:
    visitor, alice, cid = chat["visitor"], chat["alice"], chat["cid"]
    reply = alice.request({"type": "message", "conversation": cid, "client_id": "a1",
                           "body": "Hello!"})
    visitor.send({"type": "receipt", "delivered": reply["seq"], "read": reply["seq"]})
    state = alice.recv_until(lambda f: f["type"] == "receipt")
    assert state["visitor_delivered"] == state["visitor_read"] == reply["seq"]
    alice.send({"type": "receipt", "conversation": cid, "read": 1})
    assert visitor.recv_until(lambda f: f["type"] == "receipt" and f["team_read"] == 1)
    visitor.send({"type": "receipt", "read": 1})  # lower: ignored
    visitor.send({"type": "receipt", "read": 10_000})  # past the end: clamped
    visitor.request({"type": "ping"})
    conversation = Conversation.objects.get(pk=cid)
    assert conversation.visitor_read_seq == conversation.last_seq


def test_another_company_can_neither_type_into_nor_mark_a_conversation(live: str,
                                                                       chat: Any) -> None:
    intruder = open_operator(live, chat["globex"].owner)
    for frame in ({"type": "typing", "conversation": chat["cid"]},
                  {"type": "receipt", "conversation": chat["cid"], "read": 1}):
        assert intruder.request(frame)["code"] == "not_found"
    assert Conversation.objects.get(pk=chat["cid"]).team_read_seq == 0
    chat["visitor"].request({"type": "ping"})
    assert not [f for f in chat["visitor"].backlog if f["type"] == "typing"]


def test_receipt_marks_only_move_forward(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="x", body="hi")
    cid = posted.event.conversation_id
    assert do_record_receipt(cid, side="team", read=1) is not None
    assert do_record_receipt(cid, side="team", read=1) is None  # no change
    assert do_record_receipt(cid, side="team", read=True) is None  # not a number
