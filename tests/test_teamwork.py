"""Operators working together (C3, C4): private notes the visitor never sees, following,
transfer requests, answers, withdrawals and direct reassignment; each refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import (
    do_add_note,
    do_answer_transfer,
    do_claim,
    do_reassign,
    do_request_transfer,
    do_withdraw_transfer,
)
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, EventKind, TransferRequest
from plug2support.widgets.models import Visitor

from .conftest import Tenant, open_operator, open_visitor


def served_conversation(tenant: Tenant) -> tuple[Conversation, Visitor, str]:
    visitor, token = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v1", body="Hi")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    do_claim(tenant.membership(tenant.operators[0]), conversation)
    conversation.refresh_from_db()
    return conversation, visitor, token


def test_any_operator_can_add_a_note_which_is_marked_team_only(acme: Tenant) -> None:
    conversation, _, _ = served_conversation(acme)
    bob = acme.membership(acme.operators[1])  # not the serving operator
    posted = do_add_note(bob, conversation, client_id="n1", body="VIP customer")
    assert posted.event.kind == EventKind.NOTE and posted.event.staff_only
    again = do_add_note(bob, conversation, client_id="n1", body="VIP customer")
    assert again.duplicate and again.event.pk == posted.event.pk


def test_notes_never_reach_the_visitor_http_api(acme: Tenant, client: Client) -> None:
    conversation, _visitor, token = served_conversation(acme)
    do_add_note(acme.membership(acme.operators[1]), conversation, client_id="n1",
                body="internal: refund approved")
    response = client.get(f"/widget/api/{acme.widget.key}/messages?after=0",
                          headers={"Authorization": f"Bearer {token}"})
    bodies = [e["body"] for e in response.json()["events"]]
    assert "internal: refund approved" not in bodies
    assert bodies[0] == "Hi"


def test_a_transfer_is_requested_accepted_and_recorded(acme: Tenant) -> None:
    conversation, _, _ = served_conversation(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    request = do_request_transfer(bob, conversation)
    assert request.asked_of == alice.user
    do_answer_transfer(alice, request, accept=True)
    conversation.refresh_from_db()
    assert conversation.assignee == bob.user
    kinds = list(conversation.events.order_by("seq").values_list("kind", flat=True))
    assert kinds == ["message", "claimed", "transfer_requested", "transfer_accepted"]
    # The new server can reply; the old one cannot any more.
    do_post_operator_message(bob, conversation, client_id="b1", body="Bob here")
    with pytest.raises(ConversationError) as error:
        do_post_operator_message(alice, conversation, client_id="a9", body="Still me?")
    assert error.value.code == "already_served"


def test_a_declined_transfer_changes_nobody(acme: Tenant) -> None:
    conversation, _, _ = served_conversation(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    request = do_request_transfer(bob, conversation)
    do_answer_transfer(alice, request, accept=False)
    conversation.refresh_from_db()
    assert conversation.assignee == alice.user
    assert conversation.events.filter(kind=EventKind.TRANSFER_DECLINED).count() == 1


def test_bad_transfer_moves_are_refused_and_change_nothing(acme: Tenant) -> None:
    conversation, _, _ = served_conversation(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    owner = acme.membership(acme.owner)

    with pytest.raises(ConversationError) as error:
        do_request_transfer(alice, conversation)
    assert error.value.code == "already_yours"

    request = do_request_transfer(bob, conversation)
    with pytest.raises(ConversationError) as error:
        do_request_transfer(bob, conversation)
    assert error.value.code == "already_requested"
    with pytest.raises(ConversationError) as error:
        do_answer_transfer(bob, request, accept=True)  # asked of Alice, not Bob
    assert error.value.code == "not_yours"

    # An accept of a withdrawn request is refused.
    do_withdraw_transfer(bob, request)
    with pytest.raises(ConversationError) as error:
        do_answer_transfer(alice, request, accept=True)
    assert error.value.code == "transfer_closed"
    assert TransferRequest.objects.get(pk=request.pk).status == "withdrawn"

    # Alice no longer serves (an admin reassigned it to the owner): the request asked of her
    # is closed, and her answer is refused with nothing changed.
    request = do_request_transfer(bob, conversation)
    do_reassign(owner, conversation, acme.owner.pk)
    before = conversation.events.count()
    with pytest.raises(ConversationError) as error:
        do_answer_transfer(alice, request, accept=True)
    assert error.value.code == "transfer_closed" and "withdrawn" in error.value.message
    conversation.refresh_from_db()
    assert conversation.assignee == acme.owner and conversation.events.count() == before


def test_only_owners_and_admins_reassign_and_only_to_their_own_people(
        acme: Tenant, globex: Tenant) -> None:
    conversation, _, _ = served_conversation(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    with pytest.raises(ConversationError) as error:
        do_reassign(bob, conversation, bob.user_id)
    assert error.value.code == "forbidden"
    owner = acme.membership(acme.owner)
    with pytest.raises(ConversationError) as error:
        do_reassign(owner, conversation, globex.operators[0].pk)
    assert error.value.code == "not_found"
    conversation.refresh_from_db()
    assert conversation.assignee == alice.user
    do_reassign(owner, conversation, bob.user_id)
    conversation.refresh_from_db()
    assert conversation.assignee == bob.user


# --- over the sockets ----------------------------------------------------------------------

def test_a_follower_hears_notes_and_transfers_live_and_the_visitor_never_does(
        live: str, tenants: Any) -> None:
    acme, globex = tenants
    visitor, _ = open_visitor(live, acme.widget)
    ack = visitor.request({"type": "message", "client_id": "v1", "body": "Hello"})
    cid = ack["conversation"]
    alice = open_operator(live, acme.operators[0])
    bob = open_operator(live, acme.operators[1])
    assert alice.request({"type": "claim", "conversation": cid})["type"] == "claimed"
    bob.request({"type": "subscribe", "conversation": cid, "after": 0})  # follows
    alice.request({"type": "subscribe", "conversation": cid, "after": 0})

    note = alice.request({"type": "note", "conversation": cid, "client_id": "n1",
                          "body": "secret note"})
    assert note["type"] == "ack"
    heard = bob.recv_until(lambda f: f["type"] == "event" and f["kind"] == "note")
    assert heard["body"] == "secret note" and heard["staff_only"] is True

    # A follower cannot reply, but can ask for the visitor.
    refused = bob.request({"type": "message", "conversation": cid, "client_id": "b1",
                           "body": "me too"})
    assert refused["code"] == "already_served"
    asked = bob.request({"type": "transfer_request", "conversation": cid})
    assert asked["type"] == "transfer" and asked["request"]["status"] == "pending"
    live_request = alice.recv_until(lambda f: f["type"] == "transfer")["request"]
    assert live_request["requested_by"]["name"] == acme.operators[1].name
    answered = alice.request({"type": "transfer_accept", "request": live_request["id"]})
    assert answered["request"]["status"] == "accepted"
    assert bob.recv_until(lambda f: f["type"] == "transfer"
                          and f["request"]["status"] == "accepted")
    reply = bob.request({"type": "message", "conversation": cid, "client_id": "b2",
                         "body": "Bob here, I'll take it"})
    assert reply["type"] == "ack"

    # The visitor heard the claim, the hand-over and Bob's reply; nothing team-only.
    got = visitor.recv_until(lambda f: f.get("body") == "Bob here, I'll take it")
    frames = [*visitor.backlog, got]
    kinds = [f.get("kind") for f in frames if f["type"] == "event"]
    assert "note" not in kinds and "transfer_requested" not in kinds
    assert "transfer_accepted" in kinds
    assert all("secret note" not in str(f) for f in frames)

    # A visitor reconnecting from zero gets no note either.
    again, welcome = open_visitor(live, acme.widget, token=None)
    assert welcome["conversation"] is None  # a new visitor: nothing of anyone else's

    # Another company's operator can touch none of it.
    intruder = open_operator(live, globex.owner)
    for frame in ({"type": "note", "conversation": cid, "client_id": "x", "body": "x"},
                  {"type": "transfer_request", "conversation": cid},
                  {"type": "transfer_accept", "request": live_request["id"]},
                  {"type": "transfer_withdraw", "request": live_request["id"]},
                  {"type": "reassign", "conversation": cid, "to": globex.owner.pk}):
        assert intruder.request(frame)["code"] == "not_found", frame


def test_a_reconnecting_visitor_replays_around_notes(live: str, tenants: Any) -> None:
    acme, _ = tenants
    visitor, welcome = open_visitor(live, acme.widget)
    cid = visitor.request({"type": "message", "client_id": "v1", "body": "one"})["conversation"]
    alice = open_operator(live, acme.operators[0])
    alice.request({"type": "message", "conversation": cid, "client_id": "a1", "body": "two"})
    alice.request({"type": "note", "conversation": cid, "client_id": "n1", "body": "hidden"})
    alice.request({"type": "message", "conversation": cid, "client_id": "a2", "body": "three"})
    visitor.close()
    back, _ = open_visitor(live, acme.widget, token=welcome["token"], after=0, conversation=cid)
    bodies = []
    while "three" not in bodies:
        frame = back.recv()
        if frame["type"] == "event" and frame["kind"] == "message":
            bodies.append(frame["body"])
        assert frame.get("kind") != "note"
    assert bodies == ["one", "two", "three"]
    # Live events after a note still arrive (the gap is filled without the note).
    alice.request({"type": "note", "conversation": cid, "client_id": "n2", "body": "hidden 2"})
    alice.request({"type": "message", "conversation": cid, "client_id": "a3", "body": "four"})
    nxt = back.recv_until(lambda f: f["type"] == "event")
    assert nxt["body"] == "four"


def test_a_hand_over_closes_the_other_requests_and_tells_the_new_operator(acme: Tenant) -> None:
    from plug2support.accounts.models import Membership, Role, User
    from plug2support.notifications.models import Notification

    conversation, _, _ = served_conversation(acme)
    carol = User.objects.create_user(email="carol@acme.test", name="Carol", password="x")
    Membership.objects.create(user=carol, company=acme.company, role=Role.OPERATOR)
    bob = acme.membership(acme.operators[1])
    first = do_request_transfer(bob, conversation)
    second = do_request_transfer(acme.membership(carol), conversation)
    do_answer_transfer(acme.membership(acme.operators[0]), first, accept=True)
    assert TransferRequest.objects.get(pk=second.pk).status == "withdrawn"
    do_reassign(acme.membership(acme.owner), conversation, carol.pk)
    assert Notification.objects.filter(user=carol, kind="reassigned").count() == 1
