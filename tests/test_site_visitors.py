"""Operator-started conversations (C7): the visitors on the sites now, a chat started with
one of them and picked up by their browser, and a conversation started by e-mail."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.started import do_start_email_conversation
from plug2support.conversations.models import Conversation, EventKind
from plug2support.widgets.models import ProactiveInvite, SiteVisitor, Visitor
from plug2support.widgets.visits import on_site_now

from .conftest import (
    WS,
    Tenant,
    logged_in_client,
    make_tenant,
    open_operator,
    open_visitor,
    ws_connect,
)

VID = "vid-1234567890"


def page_view(client: Client, tenant: Tenant, vid: str = VID, origin: str = "https://a.example",
              **extra: str) -> Any:
    body = {"vid": vid, "url": "https://a.example/pricing", "title": "Pricing",
            "referrer": "https://search.example/", **extra}
    return client.post(f"/widget/api/{tenant.widget.key}/pageview", json.dumps(body),
                       content_type="text/plain", HTTP_ORIGIN=origin)


def test_page_views_tell_where_a_visitor_is_and_whether_they_came_before(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    response = page_view(client, acme)
    assert response.status_code == 200 and response.json() == {"invite": None}
    assert response["Access-Control-Allow-Origin"] == "https://a.example"
    visit = SiteVisitor.objects.get()
    assert (visit.url, visit.title, visit.returning) == ("https://a.example/pricing", "Pricing",
                                                        False)
    assert list(on_site_now(acme.company.pk)) == [visit]
    assert list(on_site_now(globex.company.pk)) == []
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert list(on_site_now(acme.company.pk)) == []  # gone
        page_view(client, acme, url="https://a.example/")
        visit.refresh_from_db()
        assert visit.returning and visit.sessions == 2


def test_the_referrer_is_the_visits_and_a_later_page_does_not_replace_it(
        acme: Tenant, client: Client) -> None:
    page_view(client, acme)
    page_view(client, acme, url="https://a.example/cart", referrer="https://a.example/pricing")
    page_view(client, acme, url="https://a.example/pay", referrer="javascript:void(0)")
    visit = SiteVisitor.objects.get()
    assert (visit.url, visit.referrer) == ("https://a.example/pay", "https://search.example/")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):  # a new visit
        page_view(client, acme, url="https://a.example/", referrer="https://news.example/")
        visit.refresh_from_db()
        assert visit.referrer == "https://news.example/"


def test_bad_page_views_are_refused(acme: Tenant, client: Client) -> None:
    acme.widget.allowed_origins = "https://a.example"
    acme.widget.save()
    assert page_view(client, acme, origin="https://evil.example").status_code == 403
    assert page_view(client, acme, vid="x").json()["error"]["code"] == "invalid_vid"
    assert client.post("/widget/api/wk_nope/pageview", "{}", content_type="text/plain",
                       HTTP_ORIGIN="https://a.example").status_code == 404
    script = page_view(client, acme, url="javascript:alert(1)")
    assert script.status_code == 200
    assert SiteVisitor.objects.get().url == ""  # only http(s) addresses are kept


def test_the_visitors_page_lists_only_your_own_sites(acme: Tenant, globex: Tenant,
                                                     client: Client) -> None:
    page_view(client, acme, title="Acme pricing")
    page_view(client, globex, vid="globex-visitor-1", title="Globex secrets")
    page = logged_in_client(acme.operators[0]).get("/visitors/").content.decode()
    assert "Acme pricing" in page and "Globex secrets" not in page


def test_starting_a_chat_reaches_the_browser_through_an_invite(live: str) -> None:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    client = Client()
    page_view(client, acme)
    visit = SiteVisitor.objects.get()
    alice = logged_in_client(acme.operators[0])
    response = alice.post(f"/visitors/{visit.pk}/chat", {"body": "Hi! Need help with plans?"})
    conversation = Conversation.objects.get()
    assert response["Location"] == f"/inbox/{conversation.pk}/"
    assert conversation.assignee == acme.operators[0]
    # Another company's operator cannot start one with this visitor.
    intruder = logged_in_client(globex.operators[0])
    assert intruder.post(f"/visitors/{visit.pk}/chat", {"body": "Hi"}).status_code == 404

    invite = page_view(client, acme).json()["invite"]
    assert invite["code"] == ProactiveInvite.objects.get().code
    ws, welcome = open_visitor(live, acme.widget, token=None)  # no invite: a new visitor
    assert welcome["conversation"] is None
    ws.close()
    from .conftest import WS, ws_connect

    frame = WS(ws_connect(live, "/ws/widget"))
    frame.send({"type": "hello", "widget": acme.widget.key, "token": None, "vid": VID,
                "invite": invite["code"], "after": 0})
    welcome = frame.recv()
    assert welcome["conversation"]["id"] == conversation.pk
    first = frame.recv_until(lambda f: f["type"] == "event" and f["kind"] == "message")
    assert first["body"] == "Hi! Need help with plans?"
    # The browser now holds the visitor: its token works, and the invite is spent.
    assert Visitor.objects.get(pk=welcome["visitor"]["id"]).conversations.count() == 1
    again = WS(ws_connect(live, "/ws/widget"))
    again.send({"type": "hello", "widget": globex.widget.key, "token": None,
                "invite": invite["code"]})
    assert again.recv()["conversation"] is None  # another widget: the code means nothing
    reply = frame.request({"type": "message", "client_id": "v1", "body": "Yes please"})
    operator = open_operator(live, acme.operators[0])
    operator.request({"type": "subscribe", "conversation": conversation.pk, "after": 0})
    heard = operator.recv_until(lambda f: f["type"] == "event" and f["seq"] == reply["seq"])
    assert heard["body"] == "Yes please"


def test_an_operator_starts_a_conversation_by_email(acme: Tenant, globex: Tenant) -> None:
    alice = logged_in_client(acme.operators[0])
    response = alice.post("/visitors/", {"widget": acme.widget.pk, "email": "Bob@Client.example",
                                         "body": "Your order has shipped."})
    conversation = Conversation.objects.get()
    assert response["Location"] == f"/inbox/{conversation.pk}/"
    assert conversation.reply_by_email and conversation.visitor.email == "bob@client.example"
    assert conversation.events.filter(kind=EventKind.MESSAGE).get().body == \
        "Your order has shipped."
    [sent] = mail.outbox
    assert sent.to == ["bob@client.example"] and "Your order has shipped." in sent.body
    # A widget of another company cannot be used.
    refused = alice.post("/visitors/", {"widget": globex.widget.pk, "email": "x@y.example",
                                        "body": "Hi"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    bad = alice.post("/visitors/", {"widget": acme.widget.pk, "email": "nope", "body": "Hi"})
    assert "Enter a valid email address" in bad.content.decode()
    assert Conversation.objects.count() == 1


def test_email_conversation_action_refuses_a_foreign_widget(acme: Tenant, globex: Tenant) -> None:
    import pytest

    with pytest.raises(ConversationError) as error:
        do_start_email_conversation(acme.membership(acme.owner), globex.widget,
                                    email="a@b.example", client_id="c", body="Hi")
    assert error.value.code == "not_found"


def test_an_invite_is_handed_to_the_browser_once(acme: Tenant, client: Client) -> None:
    page_view(client, acme)
    visit = SiteVisitor.objects.get()
    logged_in_client(acme.operators[0]).post(f"/visitors/{visit.pk}/chat", {"body": "Hi!"})
    assert page_view(client, acme).json()["invite"] is not None
    assert page_view(client, acme).json()["invite"] is None  # not reopened on every beat


def hello_with_invite(base: str, tenant: Tenant, token: str | None,
                      code: str) -> dict[str, Any]:
    frame = WS(ws_connect(base, "/ws/widget"))
    frame.send({"type": "hello", "widget": tenant.widget.key, "token": token, "vid": VID,
                "invite": code, "after": 0})
    welcome: dict[str, Any] = frame.recv()
    assert welcome["type"] == "welcome", welcome
    frame.close()
    return welcome


def test_an_invite_to_someones_visitor_opens_only_for_that_visitor(live: str) -> None:
    """N7: the site visitor an operator invites may be linked to a visitor a browser holds
    (X chatted there, then the site logged X out, or X's storage was cleared). The invite
    hands X's conversation to nobody else: not to a browser without X's token, nor to one
    with another visitor's token; X's own token takes it as before."""
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    client = Client()
    page_view(client, acme)
    x = WS(ws_connect(live, "/ws/widget"))  # the chat opens in this browser (its vid)
    x.send({"type": "hello", "widget": acme.widget.key, "token": None, "vid": VID, "after": 0})
    x_welcome = x.recv()
    x_ack = x.request({"type": "message", "client_id": "x1", "body": "X lives at 12 Elm St"})
    x.close()
    x_visitor = Visitor.objects.get(conversations__pk=x_ack["conversation"])
    visit = SiteVisitor.objects.get(widget=acme.widget)
    assert visit.visitor == x_visitor
    logged_in_client(acme.operators[0]).post(f"/visitors/{visit.pk}/chat", {"body": "Hi!"})
    code = page_view(client, acme).json()["invite"]["code"]

    _, z_welcome = open_visitor(live, acme.widget)  # another visitor of this widget
    for token in (None, z_welcome["token"]):
        welcome = hello_with_invite(live, acme, token, code)
        assert welcome["conversation"] is None, token
        assert welcome["token"] != x_welcome["token"]
    assert Conversation.objects.get(pk=x_ack["conversation"]).visitor == x_visitor
    assert Visitor.objects.get(pk=z_welcome["visitor"]["id"]).conversations.count() == 0
    assert ProactiveInvite.objects.get().accepted_at is None
    # The invite means nothing on another company's widget, even with X's token.
    assert hello_with_invite(live, globex, x_welcome["token"], code)["conversation"] is None
    # X's own browser takes it, and keeps its token.
    welcome = hello_with_invite(live, acme, x_welcome["token"], code)
    assert (welcome["token"], welcome["conversation"]["id"]) == (x_welcome["token"],
                                                                 x_ack["conversation"])
    assert ProactiveInvite.objects.get().accepted_at is not None
