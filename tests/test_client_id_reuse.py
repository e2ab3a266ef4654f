"""A client id sent again (issue 15, point 7; C8): the same message resent gets the original
ack; another message under a used id is refused with `client_id_reused` (HTTP 409, a socket
`error`), stores nothing and leaves the original as it was. For visitor messages (socket
and HTTP), offline messages, operator messages and notes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_leave_offline_message,
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Event, EventKind

from .conftest import Tenant, open_operator, open_visitor
from .test_attachments import media, png_bytes, upload  # noqa: F401 (fixture)


def _visitor_conversation(tenant: Tenant) -> tuple[Any, Conversation]:
    visitor, _token = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v1", body="Hello")
    return visitor, Conversation.objects.get(pk=posted.event.conversation_id)


def test_a_visitor_resend_with_the_same_body_gets_the_original_ack(acme: Tenant) -> None:
    visitor, conversation = _visitor_conversation(acme)
    again = do_post_visitor_message(visitor, client_id="v1", body="  Hello ")
    assert again.duplicate and again.event.seq == 1
    assert conversation.events.filter(kind=EventKind.MESSAGE).count() == 1


def test_a_visitor_message_with_a_used_client_id_and_another_body_is_a_conflict(
        acme: Tenant) -> None:
    visitor, conversation = _visitor_conversation(acme)
    with pytest.raises(ConversationError) as refused:
        do_post_visitor_message(visitor, client_id="v1", body="Another question")
    assert refused.value.code == "client_id_reused"
    assert list(conversation.events.filter(kind=EventKind.MESSAGE).values_list(
        "body", flat=True)) == ["Hello"]


def test_an_offline_message_reusing_a_client_id_with_another_body_is_a_conflict(
        acme: Tenant) -> None:
    visitor, _token = do_identify_visitor(acme.widget, None)
    first = do_leave_offline_message(visitor, client_id="o1", email="jane@acme.test",
                                     body="Call me back")
    again = do_leave_offline_message(visitor, client_id="o1", email="jane@acme.test",
                                     body="Call me back")
    assert again.duplicate and again.event.pk == first.event.pk
    with pytest.raises(ConversationError) as refused:
        do_leave_offline_message(visitor, client_id="o1", email="jane@acme.test",
                                 body="Never mind")
    assert refused.value.code == "client_id_reused"
    assert Event.objects.filter(kind=EventKind.MESSAGE).count() == 1


def test_the_http_api_answers_409_client_id_reused(acme: Tenant, client: Client) -> None:
    token = client.post(f"/widget/api/{acme.widget.key}/session", "{}",
                        content_type="application/json").json()["token"]
    url, auth = f"/widget/api/{acme.widget.key}/messages", {"Authorization": f"Bearer {token}"}

    def send(body: str) -> Any:
        return client.post(url, json.dumps({"client_id": "m-1", "body": body}),
                           content_type="application/json", headers=auth)

    assert send("Hello").status_code == 201
    assert send("Hello").status_code == 200
    conflict = send("Goodbye")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "client_id_reused"
    assert list(Event.objects.values_list("body", flat=True)) == ["Hello"]


def test_a_resend_with_other_attachments_is_a_conflict_and_the_same_ones_a_duplicate(
        acme: Tenant, client: Client) -> None:
    token = client.post(f"/widget/api/{acme.widget.key}/session", "{}",
                        content_type="application/json").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    first, second = (client.post(f"/widget/api/{acme.widget.key}/attachments",
                                 {"file": upload(f"{n}.png", png_bytes())}, headers=auth).json()
                     for n in ("a", "b"))
    url = f"/widget/api/{acme.widget.key}/messages"

    def send(ids: list[int]) -> Any:
        return client.post(url, json.dumps({"client_id": "m", "body": "see", "attachments": ids}),
                           content_type="application/json", headers=auth)

    assert send([first["id"]]).status_code == 201
    assert send([first["id"]]).status_code == 200
    for other in ([second["id"]], [], [first["id"], second["id"]]):
        answer = send(other)
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "client_id_reused"
    assert Event.objects.filter(kind=EventKind.MESSAGE).count() == 1


def test_operator_messages_and_notes_refuse_a_reused_client_id_with_another_body(
        acme: Tenant) -> None:
    _visitor, conversation = _visitor_conversation(acme)
    alice = acme.membership(acme.operators[0])
    do_post_operator_message(alice, conversation, client_id="a1", body="On it")
    assert do_post_operator_message(alice, conversation, client_id="a1",
                                    body="On it").duplicate
    do_add_note(alice, conversation, client_id="n1", body="VIP")
    assert do_add_note(alice, conversation, client_id="n1", body="VIP").duplicate
    for send, client_id, body in ((do_post_operator_message, "a1", "Done"),
                                  (do_add_note, "n1", "Not VIP"),
                                  # A note under the id of a message (and the reverse) is
                                  # another message, even with the same text.
                                  (do_add_note, "a1", "On it"),
                                  (do_post_operator_message, "n1", "VIP")):
        with pytest.raises(ConversationError) as refused:
            send(alice, conversation, client_id=client_id, body=body)
        assert refused.value.code == "client_id_reused"
    assert sorted(conversation.events.filter(sender="operator", kind__in=["message", "note"])
                  .values_list("body", flat=True)) == ["On it", "VIP"]


def test_both_sockets_answer_an_error_frame_for_a_reused_client_id(live: str,
                                                                   tenants: Any) -> None:
    acme, _ = tenants
    visitor, _welcome = open_visitor(live, acme.widget)
    ack = visitor.request({"type": "message", "client_id": "s1", "body": "Hi"})
    assert ack["type"] == "ack"
    assert visitor.request({"type": "message", "client_id": "s1", "body": "Hi"})["duplicate"]
    error = visitor.request({"type": "message", "client_id": "s1", "body": "Bye"})
    assert error["type"] == "error" and error["code"] == "client_id_reused"
    alice = open_operator(live, acme.operators[0])
    conversation = ack["conversation"]
    assert alice.request({"type": "message", "conversation": conversation, "client_id": "o1",
                          "body": "Hello"})["type"] == "ack"
    error = alice.request({"type": "message", "conversation": conversation, "client_id": "o1",
                           "body": "Hello again"})
    assert error["type"] == "error" and error["code"] == "client_id_reused"
    assert visitor.request({"type": "ping"})["type"] == "pong"
    assert sorted(Event.objects.filter(kind=EventKind.MESSAGE).values_list("body", flat=True)) \
        == ["Hello", "Hi"]
