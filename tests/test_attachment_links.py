"""A visitor's files open through signed, short-lived links, never with the visitor token in a
URL (SPEC N8): a link opens one file for the visitor it was made for, for five minutes, in
its company only; the token travels in a header only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import time_machine
from django.core import signing
from django.test import Client
from hypothesis import assume, given
from hypothesis import strategies as st

from plug2support.attachments import actions as attachment_actions
from plug2support.attachments.links import LINK_SECONDS, SALT, link_url
from plug2support.attachments.models import Attachment
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.models import Conversation

from .conftest import Tenant, logged_in_client
from .test_attachments import (  # noqa: F401 (media: the uploads' fixture)
    PDF,
    bearer,
    media,
    png_bytes,
    upload,
    visitor_message_with,
    visitor_of,
    visitor_upload,
)
from .test_odd_input import NO_SURROGATE, PROPERTY

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def links_for(client: Client, tenant: Tenant, token: str, ids: list[int]) -> Any:
    return client.post(f"/widget/api/{tenant.widget.key}/attachments/links",
                       {"attachments": ids}, content_type="application/json",
                       headers=bearer(token))


def link_of(client: Client, tenant: Tenant, token: str, attachment_id: int) -> str:
    response = links_for(client, tenant, token, [attachment_id])
    assert response.status_code == 200, response.content
    [link] = response.json()["links"]
    assert link["id"] == attachment_id
    return str(link["url"])


def opened(client: Client, url: str) -> bytes:
    response = client.get(url)  # no Authorization header: what an <img> or a link sends
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def with_signature(url: str, signed: str) -> str:
    return f"{urlsplit(url).path}?sig={signed}"


def signature_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def test_the_visitor_token_in_the_query_string_opens_no_file(acme: Tenant,
                                                            client: Client) -> None:
    visitor, token = visitor_of(acme)
    payload = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()
    visitor_message_with(visitor, [payload["id"]])
    for method in (client.get, client.head):
        response = method(f"{payload['widget_url']}?token={token}")
        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"
    assert client.get(payload["widget_url"], headers=bearer(token)).status_code == 200


def test_a_signed_link_opens_the_visitors_file_without_the_token(acme: Tenant,
                                                                client: Client) -> None:
    visitor, token = visitor_of(acme)
    image = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()
    pdf = visitor_upload(client, acme, token, "q3.pdf", PDF).json()
    with time_machine.travel(NOON, tick=False):
        response = links_for(client, acme, token, [image["id"], pdf["id"]])
    assert response.status_code == 200
    body = response.json()
    assert body["expires_at"] == (NOON + timedelta(seconds=LINK_SECONDS)).isoformat()
    urls = {link["id"]: link["url"] for link in body["links"]}
    assert set(urls) == {image["id"], pdf["id"]}
    for url in urls.values():
        assert token not in url
        assert url.startswith(f"/widget/api/{acme.widget.key}/attachments/")
    with time_machine.travel(NOON + timedelta(seconds=10), tick=False):
        assert opened(client, urls[image["id"]]) == png_bytes()
        served = client.get(urls[pdf["id"]])
        assert served["Content-Disposition"].startswith("attachment")
        assert served["X-Content-Type-Options"] == "nosniff"
        assert b"".join(served.streaming_content) == PDF  # type: ignore[attr-defined]


def test_a_signed_link_expires_after_five_minutes(acme: Tenant, client: Client) -> None:
    _visitor, token = visitor_of(acme)
    upload_id = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()["id"]
    with time_machine.travel(NOON, tick=False):
        url = link_of(client, acme, token, upload_id)
    with time_machine.travel(NOON + timedelta(seconds=LINK_SECONDS - 1), tick=False):
        assert opened(client, url) == png_bytes()
    with time_machine.travel(NOON + timedelta(seconds=LINK_SECONDS + 1), tick=False):
        response = client.get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "link_expired"
        # A fresh link, asked for with the token in the header, opens it again.
        assert opened(client, link_of(client, acme, token, upload_id)) == png_bytes()


def test_links_are_given_only_for_files_the_visitor_may_see(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    alice, alice_token = visitor_of(acme)
    _bob, bob_token = visitor_of(acme)
    sent = visitor_upload(client, acme, alice_token, "sent.png", png_bytes()).json()["id"]
    unsent = visitor_upload(client, acme, alice_token, "unsent.png", png_bytes()).json()["id"]
    event = visitor_message_with(alice, [sent])
    # A note's file is the team's only.
    operator = acme.operators[0]
    note_upload = logged_in_client(operator).post(
        "/attachments/", {"file": upload("internal.png", png_bytes())}).json()["id"]
    do_add_note(acme.membership(operator),
                Conversation.objects.get(pk=event.conversation_id),
                client_id="n1", body="", attachments=[note_upload])
    _stranger, stranger_token = visitor_of(globex)
    everything = [sent, unsent, note_upload, 999_999]
    assert {link["id"] for link in links_for(client, acme, alice_token, everything)
            .json()["links"]} == {sent, unsent}
    assert links_for(client, acme, bob_token, everything).json()["links"] == []
    # The other company's visitor, on its own widget or on this one.
    assert links_for(client, globex, stranger_token, everything).json()["links"] == []
    assert links_for(client, acme, stranger_token, everything).status_code == 401


def test_a_link_cannot_be_moved_to_another_file_widget_or_company(
        acme: Tenant, globex: Tenant, client: Client) -> None:
    visitor, token = visitor_of(acme)
    mine = visitor_upload(client, acme, token, "mine.png", png_bytes()).json()["id"]
    other = visitor_upload(client, acme, token, "other.png", png_bytes()).json()["id"]
    url = link_of(client, acme, token, mine)
    signed = signature_of(url)
    # On another of this visitor's own files: signed for one, it opens no other.
    moved = client.get(f"/widget/api/{acme.widget.key}/attachments/{other}?sig={signed}")
    assert moved.status_code == 403
    assert moved.json()["error"]["code"] == "bad_link"
    # Under the other company's widget.
    elsewhere = client.get(f"/widget/api/{globex.widget.key}/attachments/{mine}?sig={signed}")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["code"] == "not_found"
    # A genuine signature that names the other company (or another visitor) opens nothing.
    stranger, _ = visitor_of(globex)
    for forged in (link_url(acme.widget.key, mine, visitor.pk, globex.company.pk),
                   link_url(globex.widget.key, mine, stranger.pk, globex.company.pk),
                   link_url(acme.widget.key, mine, stranger.pk, acme.company.pk)):
        assert client.get(forged).status_code == 404
    # Nothing here is different from the honest link, which still works.
    assert opened(client, url) == png_bytes()


def test_a_tampered_or_foreign_signature_opens_nothing(acme: Tenant, client: Client) -> None:
    visitor, token = visitor_of(acme)
    upload_id = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()["id"]
    url = link_of(client, acme, token, upload_id)
    signed = signature_of(url)
    value, stamp, mac = signed.split(":")
    other_visitor = signing.dumps([upload_id, visitor.pk + 1, acme.company.pk],
                                  salt=SALT).split(":")[0]
    tampered = [
        f"{value}:{stamp}:{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # the MAC
        f"{other_visitor}:{stamp}:{mac}",  # the claims, re-encoded
        f"{value}:{stamp}",  # no MAC
        "",
        "not-a-link",
        # Signed with the product's key, but for something else (another salt).
        signing.dumps([upload_id, visitor.pk, acme.company.pk]),
    ]
    for bad in tampered:
        response = client.get(with_signature(url, bad))
        assert response.status_code == 403, bad
        assert response.json()["error"]["code"] == "bad_link"
    assert opened(client, url) == png_bytes()


def test_a_link_opens_nothing_once_the_file_is_gone(acme: Tenant, client: Client) -> None:
    _visitor, token = visitor_of(acme)
    upload_id = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()["id"]
    url = link_of(client, acme, token, upload_id)
    attachment_actions.do_delete_unattached(older_than=timedelta(0))
    assert not Attachment.objects.exists()
    assert client.get(url).status_code == 404


def test_asking_for_links_needs_the_token_in_the_header_and_a_list_of_ids(
        acme: Tenant, client: Client) -> None:
    _visitor, token = visitor_of(acme)
    path = f"/widget/api/{acme.widget.key}/attachments/links"
    assert client.post(path, {"attachments": []}, content_type="application/json"
                       ).status_code == 401
    assert client.post(f"{path}?token={token}", {"attachments": []},
                       content_type="application/json").status_code == 401
    assert client.post("/widget/api/wk_missing/attachments/links", {"attachments": []},
                       content_type="application/json", headers=bearer(token)
                       ).json()["error"]["code"] == "widget_not_found"
    assert client.get(path, headers=bearer(token)).status_code == 405
    for body, code in (({"attachments": "12"}, "bad_attachments"),
                       ({"attachments": [True]}, "bad_attachments"),
                       ({"attachments": [0]}, "bad_attachments"),
                       ({}, "bad_attachments"),
                       ([1, 2], "bad_attachments"),
                       ({"attachments": list(range(1, 102))}, "too_many")):
        response = client.post(path, body, content_type="application/json",
                               headers=bearer(token))
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == code
    response = client.post(path, b"{", content_type="application/json", headers=bearer(token))
    assert response.json()["error"]["code"] == "bad_request"
    assert links_for(client, acme, token, []).json()["links"] == []


def test_any_signature_is_refused_with_bad_link_never_a_5xx(acme: Tenant) -> None:
    client = Client(raise_request_exception=False)
    visitor, token = visitor_of(acme)
    upload_id = visitor_upload(client, acme, token, "dot.png", png_bytes()).json()["id"]
    path = f"/widget/api/{acme.widget.key}/attachments/{upload_id}"
    genuine = signature_of(link_of(client, acme, token, upload_id))

    @PROPERTY
    @given(sig=st.text(NO_SURROGATE, max_size=120) | st.builds(
        lambda cut, extra: genuine[:cut] + extra, st.integers(0, len(genuine) - 1),
        st.text(NO_SURROGATE, max_size=3)))
    def get(sig: str) -> None:
        assume(sig != genuine)
        response = client.get(path, {"sig": sig})
        assert response.status_code == 403, (sig, response.content[:200])
        assert response.json()["error"]["code"] == "bad_link"

    get()
