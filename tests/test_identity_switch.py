"""One person's history is never shown to another (N7, B6): a visitor that belongs to a
verified user opens only with that user's proven identity — over the widget socket (hello
`identity`, `identify`) and the widget HTTP API (session `identity`, the identity headers) —
and a widget can require verified identity. Two companies where it is tenant-scoped."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.test import Client

from plug2support.attachments.models import Attachment
from plug2support.contacts.actions import contact_of
from plug2support.contacts.identity import expected_hash
from plug2support.contacts.models import Contact
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.started import do_start_chat_with_site_visitor
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation
from plug2support.widgets.models import Visitor, Widget

from .conftest import WS, Tenant, logged_in_client, open_visitor, ws_connect
from .test_attachments import media, png_bytes, upload  # noqa: F401 (media: autouse, uploads)


def proof(widget: Widget, user_id: str, **profile: str) -> dict[str, str]:
    return {"user_id": user_id, "user_hash": expected_hash(widget.secret, user_id), **profile}


def hello(base: str, widget: Widget, token: str | None = None,
          identity: dict[str, str] | None = None, **extra: Any) -> tuple[WS, dict[str, Any]]:
    ws = WS(ws_connect(base, "/ws/widget"))
    ws.send({"type": "hello", "widget": widget.key, "token": token, "conversation": None,
             "after": 0, "identity": identity, **extra})
    welcome = ws.recv()
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


def writes(ws: WS, body: str) -> dict[str, Any]:
    ack = ws.request({"type": "message", "client_id": body[:60], "body": body})
    assert ack["type"] == "ack", ack
    return ack


def a_writes(base: str, widget: Widget, user_id: str = "user-a") -> tuple[str, int]:
    """User A, identified, writes: A's token and conversation."""
    ws, welcome = open_visitor(base, widget)
    assert ws.request({"type": "identify", **proof(widget, user_id)})["type"] == "identified"
    ack = writes(ws, "My card number ends in 4242")
    ws.close()
    return welcome["token"], ack["conversation"]


# --- the widget socket ---------------------------------------------------------------------

def test_identify_as_another_user_on_a_verified_visitors_socket_is_refused(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    ws, _ = open_visitor(live, acme.widget)
    ok = ws.request({"type": "identify", **proof(acme.widget, "user-a")})
    assert ok["type"] == "identified"
    writes(ws, "A's secret question")
    refused = ws.request({"type": "identify", **proof(acme.widget, "user-b")})
    assert (refused["type"], refused["code"]) == ("error", "identity_mismatch")
    # Nothing changed: the visitor is still A's, and B is nobody's yet.
    visitor = Visitor.objects.get()
    contact = contact_of(visitor)
    assert contact is not None and contact.external_id == "user-a"
    assert not Contact.objects.filter(external_id="user-b").exists()
    # A again is fine (the page calling identify twice).
    assert ws.request({"type": "identify", **proof(acme.widget, "user-a")})["type"] == \
        "identified"


def test_a_hello_with_another_users_identity_gets_a_new_visitor_without_history(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    token_a, conversation_a = a_writes(live, acme.widget)
    ws, welcome = hello(live, acme.widget, token_a, proof(acme.widget, "user-b"),
                        conversation=conversation_a)
    assert welcome["conversation"] is None
    assert welcome["token"] != token_a
    assert welcome["contact"]["verified"] is True
    ack = writes(ws, "Hello, I am B")
    assert ack["conversation"] != conversation_a
    # No event of A's conversation reached B's socket.
    assert ws.request({"type": "ping"})["type"] == "pong"
    assert all(f.get("conversation") != conversation_a for f in ws.backlog)
    b = contact_of(Visitor.objects.get(conversations__pk=ack["conversation"]))
    assert b is not None and b.external_id == "user-b"
    # A's token still opens A's conversation for A.
    _, again = hello(live, acme.widget, token_a, proof(acme.widget, "user-a"))
    assert (again["token"], again["conversation"]["id"]) == (token_a, conversation_a)


def test_a_verified_visitor_never_opens_without_that_users_identity(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    token_a, conversation_a = a_writes(live, acme.widget)
    for identity in (None, {"user_id": "user-a", "user_hash": "0" * 64},
                     proof(globex.widget, "user-a")):  # the same user id at another company
        _, welcome = hello(live, acme.widget, token_a, identity)
        assert welcome["token"] != token_a and welcome["conversation"] is None, identity
        assert welcome["contact"] is None
        if identity is not None:
            assert welcome["identity_error"]["code"] == "wrong_hash"
    assert Conversation.objects.get(pk=conversation_a).visitor.pk == \
        Visitor.objects.get(contact_link__contact__external_id="user-a").pk


def test_an_anonymous_visitor_who_identifies_keeps_their_conversation(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    """Logging in mid-chat is not a switch: the anonymous visitor becomes the user."""
    acme, _ = tenants
    ws, welcome = hello(live, acme.widget)
    ack = writes(ws, "Before logging in")
    ws.close()
    _, again = hello(live, acme.widget, welcome["token"], proof(acme.widget, "user-a"))
    assert (again["token"], again["conversation"]["id"]) == (welcome["token"],
                                                             ack["conversation"])


def test_an_invite_to_a_verified_users_visitor_is_not_taken_by_another_browser_user(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    from plug2support.widgets.models import SiteVisitor
    from plug2support.widgets.visits import do_record_page_view

    acme, _ = tenants
    token_a, conversation_a = a_writes(live, acme.widget)
    site, _ = do_record_page_view(acme.widget, vid="browser-one", url="https://x.example/",
                                  title="", referrer="")
    SiteVisitor.objects.filter(pk=site.pk).update(
        visitor=Visitor.objects.get(contact_link__contact__external_id="user-a"))
    site.refresh_from_db()
    do_start_chat_with_site_visitor(acme.membership(acme.operators[0]), site,
                                    client_id="hi", body="Hi Ann, your order…")
    invite = site.invites.get()
    _, welcome = hello(live, acme.widget, None, None, invite=invite.code)
    assert welcome["conversation"] is None
    assert Conversation.objects.get(pk=conversation_a).visitor.contact_link.contact \
        .external_id == "user-a"
    # A takes it.
    _, taken = hello(live, acme.widget, None, proof(acme.widget, "user-a"), invite=invite.code)
    assert taken["conversation"]["id"] == conversation_a


# --- the widget HTTP API -------------------------------------------------------------------

def headers(token: str, identity: dict[str, str] | None = None) -> dict[str, str]:
    sent = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if identity is not None:
        sent["HTTP_PLUG2SUPPORT_USER_ID"] = quote(identity["user_id"])
        sent["HTTP_PLUG2SUPPORT_USER_HASH"] = identity["user_hash"]
    return sent


def session(widget: Widget, body: dict[str, Any]) -> dict[str, Any]:
    response = Client().post(f"/widget/api/{widget.key}/session", body,
                             content_type="application/json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_http_reads_and_writes_of_a_verified_visitor_need_that_users_identity(
        acme: Tenant, globex: Tenant) -> None:
    user_id = "ünï-42"  # not ASCII: percent-encoded in the header
    opened = session(acme.widget, {"identity": proof(acme.widget, user_id)})
    token = opened["token"]
    assert opened["contact"]["verified"] is True
    url = f"/widget/api/{acme.widget.key}/messages"
    client = Client()
    posted = client.post(url, {"client_id": "c1", "body": "Mine"},
                         content_type="application/json",
                         **headers(token, proof(acme.widget, user_id)))  # type: ignore[arg-type]
    assert posted.status_code == 201
    for identity, status, code in (
        (None, 403, "identity_required"),
        (proof(acme.widget, "user-b"), 403, "identity_mismatch"),
        ({"user_id": user_id, "user_hash": "0" * 64}, 403, "wrong_hash"),
        (proof(globex.widget, user_id), 403, "wrong_hash"),
        ({"user_id": user_id, "user_hash": "nope"}, 400, "malformed_hash"),
    ):
        read = client.get(url, **headers(token, identity))  # type: ignore[arg-type]
        assert (read.status_code, read.json()["error"]["code"]) == (status, code), identity
        write = client.post(url, {"client_id": "c2", "body": "Not mine"},
                            content_type="application/json",
                            **headers(token, identity))  # type: ignore[arg-type]
        assert (write.status_code, write.json()["error"]["code"]) == (status, code), identity
    assert Conversation.objects.get().events.filter(kind="message").count() == 1
    read = client.get(url, **headers(token, proof(acme.widget, user_id)))  # type: ignore[arg-type]
    assert read.status_code == 200 and [e["body"] for e in read.json()["events"]
                                        if e["kind"] == "message"] == ["Mine"]


def test_the_http_session_gives_another_user_or_nobody_a_new_visitor(
        acme: Tenant, globex: Tenant) -> None:
    opened = session(acme.widget, {"identity": proof(acme.widget, "user-a")})
    token_a = opened["token"]
    do_post_visitor_message(Visitor.objects.get(), client_id="a", body="A's")
    for identity in (None, proof(acme.widget, "user-b"), proof(globex.widget, "user-a")):
        other = session(acme.widget, {"token": token_a, "identity": identity})
        assert other["token"] != token_a and other["conversation"] is None, identity
    mine = session(acme.widget, {"token": token_a, "identity": proof(acme.widget, "user-a")})
    assert mine["token"] == token_a and mine["conversation"] is not None
    refused = session(acme.widget, {"identity": {"user_id": "user-a"}})
    assert refused["identity_error"]["code"] == "malformed_hash"
    assert refused["contact"] is None


# --- require verified identity -------------------------------------------------------------

def test_a_widget_requiring_identity_serves_only_identified_visitors(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    Widget.objects.filter(pk=acme.widget.pk).update(require_identity=True)
    acme.widget.refresh_from_db()
    # Someone who wrote before the setting was switched on.
    earlier, earlier_token = do_identify_visitor(acme.widget, None)
    first = do_post_visitor_message(earlier, client_id="e", body="From before")
    ws, welcome = hello(live, acme.widget, earlier_token)
    assert welcome["conversation"] is None and welcome["contact"] is None
    refused = ws.request({"type": "message", "client_id": "m", "body": "Let me in"})
    assert (refused["type"], refused["code"]) == ("error", "identity_required")
    refused = ws.request({"type": "offline_message", "client_id": "o", "body": "Hi",
                          "email": "x@example.org"})
    assert refused["code"] == "identity_required"
    assert Conversation.objects.get().events.filter(kind="message").count() == 1
    # Identified, the chat opens: the visitor's conversation is sent, and messages go.
    assert ws.request({"type": "identify", **proof(acme.widget, "user-a")})["type"] == \
        "identified"
    started = ws.recv_until(lambda f: f["type"] == "conversation_started")
    assert started["conversation"]["id"] == first.event.conversation_id
    event = ws.recv_until(lambda f: f["type"] == "event" and f["kind"] == "message")
    assert event["body"] == "From before"
    writes(ws, "Now I can write")
    # Identified at the hello, it is open at once.
    ws2, welcome2 = hello(live, acme.widget, earlier_token, proof(acme.widget, "user-a"))
    assert welcome2["conversation"]["id"] == first.event.conversation_id
    # Globex does not require it.
    other, _ = hello(live, globex.widget)
    writes(other, "Anonymous at Globex")


def test_the_http_api_of_a_widget_requiring_identity_refuses_the_unidentified(
        acme: Tenant, globex: Tenant) -> None:
    Widget.objects.filter(pk=acme.widget.pk).update(require_identity=True)
    anonymous = session(acme.widget, {})
    assert anonymous["conversation"] is None
    url = f"/widget/api/{acme.widget.key}/messages"
    client = Client()
    for response in (client.get(url, **headers(anonymous["token"])),  # type: ignore[arg-type]
                     client.post(url, {"client_id": "c", "body": "Hi"},
                                 content_type="application/json",
                                 **headers(anonymous["token"]))):  # type: ignore[arg-type]
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "identity_required"
    assert not Conversation.objects.exists()
    known = session(acme.widget, {"identity": proof(acme.widget, "user-a")})
    sent = client.post(url, {"client_id": "c", "body": "Hi"}, content_type="application/json",
                       **headers(known["token"], proof(acme.widget, "user-a")))  # type: ignore[arg-type]
    assert sent.status_code == 201
    free = session(globex.widget, {})
    sent = client.post(f"/widget/api/{globex.widget.key}/messages",
                       {"client_id": "c", "body": "Hi"}, content_type="application/json",
                       **headers(free["token"]))  # type: ignore[arg-type]
    assert sent.status_code == 201


def test_admins_switch_require_identity_and_the_widget_configs_say_so(
        acme: Tenant, globex: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    page = owner.get(f"/settings/widgets/{acme.widget.pk}/")
    assert b'name="require_identity"' in page.content
    saved = owner.post(f"/settings/widgets/{acme.widget.pk}/", {
        "name": acme.widget.name, "allowed_origins": "", "require_identity": "on"})
    assert saved.status_code == 302
    acme.widget.refresh_from_db()
    assert acme.widget.require_identity is True
    config = Client().get(f"/widget/api/{acme.widget.key}/config").json()
    assert config["require_identity"] is True
    frame = Client().get(f"/widget/frame/{acme.widget.key}/").content.decode()
    assert '"require_identity": true' in frame
    assert Client().get(f"/widget/api/{globex.widget.key}/config").json()[
        "require_identity"] is False
    # Another company's admin cannot change it.
    other = logged_in_client(globex.owner)
    assert other.post(f"/settings/widgets/{acme.widget.pk}/", {
        "name": "x", "allowed_origins": ""}).status_code == 404
    acme.widget.refresh_from_db()
    assert acme.widget.require_identity is True


# --- odd identities --------------------------------------------------------------------------

ODD_IDENTITIES: list[Any] = [
    "user-a", 42, [], {"user_id": 7, "user_hash": 7}, {"user_id": "a", "user_hash": None},
    {"user_id": "user-a", "user_hash": "f" * 64, "email": ["x"]},
    {"user_id": "\u202e", "user_hash": "0" * 64}, {"user_id": "a" * 201, "user_hash": "0" * 64},
]


def test_an_odd_identity_in_a_hello_or_session_is_refused_and_the_client_goes_on_unidentified(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    acme, _ = tenants
    token_a, _ = a_writes(live, acme.widget)
    for identity in ODD_IDENTITIES:
        ws, welcome = hello(live, acme.widget, token_a, identity)
        assert welcome["conversation"] is None and welcome["contact"] is None, identity
        assert isinstance(welcome["identity_error"]["code"], str)
        writes(ws, "still serving")
        ws.close()
    # Text the JSON parser takes (a NUL or a lone surrogate is refused before: test_odd_input).
    text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                   max_size=20)
    values = st.recursive(st.none() | st.booleans() | st.integers() | text,
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from(
                              ["user_id", "user_hash", "email", "name"]) | text,
                              inner, max_size=4), max_leaves=8)

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(identity=values)
    def session_with(identity: Any) -> None:
        from django.core.cache import cache

        cache.clear()  # the new-visitor limit would soon answer every example
        answer = Client(raise_request_exception=False).post(
            f"/widget/api/{acme.widget.key}/session", {"token": token_a, "identity": identity},
            content_type="application/json")
        assert answer.status_code == 200, answer.content[:300]
        assert answer.json()["token"] != token_a and answer.json()["conversation"] is None

    session_with()
    assert Contact.objects.count() == 1


def test_a_verified_visitors_files_need_that_users_identity_like_its_messages(
        acme: Tenant, globex: Tenant) -> None:
    """Uploads and links are the HTTP API too: a token of user A's visitor opens none of A's
    files without A's proof (someone else on A's browser, or who copied A's token)."""
    opened = session(acme.widget, {"identity": proof(acme.widget, "user-a")})
    token, a = opened["token"], proof(acme.widget, "user-a")
    key = acme.widget.key
    client = Client()

    def upload_as(identity: dict[str, str] | None) -> Any:
        return client.post(f"/widget/api/{key}/attachments",
                           {"file": upload("dot.png", png_bytes())},
                           **headers(token, identity))  # type: ignore[arg-type]

    def links_as(identity: dict[str, str] | None, ids: list[int]) -> Any:
        return client.post(f"/widget/api/{key}/attachments/links", {"attachments": ids},
                           content_type="application/json",
                           **headers(token, identity))  # type: ignore[arg-type]

    mine = upload_as(a)
    assert mine.status_code == 201, mine.content
    attachment_id = mine.json()["id"]
    for identity, code in ((None, "identity_required"),
                           (proof(acme.widget, "user-b"), "identity_mismatch"),
                           (proof(globex.widget, "user-a"), "wrong_hash")):
        refused = upload_as(identity)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, code)
        refused = links_as(identity, [attachment_id])
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, code)
    assert Attachment.objects.count() == 1  # the refused uploads stored nothing
    [link] = links_as(a, [attachment_id]).json()["links"]
    assert link["id"] == attachment_id
    # The file itself (docs/protocol.md §3 GET …/attachments/<id>): by the token in the
    # header, with A's proof too; by the signed link, with no header at all.
    download = f"/widget/api/{key}/attachments/{attachment_id}"
    for identity, code in ((None, "identity_required"),
                           (proof(acme.widget, "user-b"), "identity_mismatch")):
        refused = client.get(download, **headers(token, identity))  # type: ignore[arg-type]
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, code)
    assert client.get(download, **headers(token, a)).status_code == 200  # type: ignore[arg-type]
    assert Client().get(link["url"]).status_code == 200
