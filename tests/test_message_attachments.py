"""Attachments carried by messages and notes (C4): they arrive with the message on every
side that may see it, never with a note to the visitor, and a foreign upload stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Event

from .conftest import Tenant, logged_in_client, make_tenant, open_operator, open_visitor
from .test_attachments import media, png_bytes, upload  # noqa: F401 (fixture)


def test_a_visitor_sends_an_image_with_a_message_and_the_operator_receives_it(
        live: str) -> None:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    visitor, welcome = open_visitor(live, acme.widget)
    client = Client()
    uploaded = client.post(f"/widget/api/{acme.widget.key}/attachments",
                           {"file": upload("photo.png", png_bytes())},
                           headers={"Authorization": f"Bearer {welcome['token']}"}).json()
    alice = open_operator(live, acme.operators[0])
    ack = visitor.request({"type": "message", "client_id": "v1", "body": None,
                           "attachments": [uploaded["id"]]})
    assert ack["type"] == "ack"
    alice.request({"type": "subscribe", "conversation": ack["conversation"], "after": 0})
    event = alice.recv_until(lambda f: f["type"] == "event" and f["kind"] == "message")
    [attachment] = event["attachments"]
    assert attachment["name"] == "photo.png" and attachment["is_image"]
    image = logged_in_client(acme.operators[0]).get(attachment["url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert logged_in_client(globex.operators[0]).get(attachment["url"]).status_code == 404
    summary = alice.recv_until(lambda f: f["type"] == "conversation")
    assert summary["conversation"]["preview"] == "Attachment: photo.png"


def test_a_note_with_an_attachment_never_reaches_the_visitor(acme: Tenant,
                                                            client: Client) -> None:
    visitor, token = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body="Hi")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    bob = acme.membership(acme.operators[1])
    uploaded = logged_in_client(bob.user).post(
        "/attachments/", {"file": upload("internal.png", png_bytes())}).json()
    note = do_add_note(bob, conversation, client_id="n", body="see screenshot",
                       attachments=[uploaded["id"]])
    assert [a["name"] for a in note.event.attachment_payloads] == ["internal.png"]  # type: ignore[attr-defined]
    events = client.get(f"/widget/api/{acme.widget.key}/messages?after=0",
                        headers={"Authorization": f"Bearer {token}"}).json()["events"]
    assert all(e["attachments"] == [] for e in events)
    download = client.get(f"/widget/api/{acme.widget.key}/attachments/{uploaded['id']}",
                          headers={"Authorization": f"Bearer {token}"})
    assert download.status_code == 404


def test_a_foreign_upload_cannot_ride_on_a_message(acme: Tenant, globex: Tenant) -> None:
    foreign = logged_in_client(globex.operators[0]).post(
        "/attachments/", {"file": upload("theirs.png", png_bytes())}).json()
    visitor, _ = do_identify_visitor(acme.widget, None)
    do_post_visitor_message(visitor, client_id="v", body="Hi")
    conversation = Conversation.objects.get()
    alice = acme.membership(acme.operators[0])
    before = Event.objects.count()
    with pytest.raises(ConversationError) as error:
        do_post_operator_message(alice, conversation, client_id="a", body="look",
                                 attachments=[foreign["id"]])
    assert error.value.code == "not_found"
    assert Event.objects.count() == before  # the whole message was refused
    conversation.refresh_from_db()
    assert conversation.assignee is None  # not even the implicit claim happened


@pytest.mark.parametrize("attachments", ["7", {"id": 1}, 3])
def test_attachments_must_be_a_list(acme: Tenant, attachments: Any) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    with pytest.raises(ConversationError) as error:
        do_post_visitor_message(visitor, client_id="v", body="Hi",
                                attachments=attachments)
    assert error.value.code == "bad_attachments"
