"""Widgets (B1, B2, B6, B7) and their public endpoints; the inbox page's tenant checks."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Event
from plug2support.widgets.models import Widget

from .conftest import Tenant, logged_in_client


def test_an_admin_creates_a_widget_and_sees_its_one_line_snippet(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    response = owner.post("/settings/widgets/new/", {
        "name": "Shop", "title": "Hello!", "allowed_origins": "https://Shop.example.com/path"})
    widget = Widget.objects.get(name="Shop")
    assert widget.company == acme.company
    assert widget.origin_list == ["https://shop.example.com"]
    page = owner.get(response["Location"]).content.decode()
    assert f'data-widget=&quot;{widget.key}&quot;' in page  # shown as text to copy
    assert "/static/widget/loader.js" in page and "&lt;script async" in page


def test_widget_form_refuses_things_that_are_not_origins(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    response = owner.post("/settings/widgets/new/", {
        "name": "Shop", "title": "Hello!", "allowed_origins": "javascript:alert(1)\nftp://x"})
    assert "Not an origin" in response.content.decode()
    assert not Widget.objects.filter(name="Shop").exists()


def test_another_companys_widget_settings_are_not_found(acme: Tenant, globex: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    assert owner.get(f"/settings/widgets/{globex.widget.pk}/").status_code == 404
    response = owner.post(f"/settings/widgets/{globex.widget.pk}/", {"name": "Hijacked",
                                                                     "title": "x"})
    assert response.status_code == 404
    globex.widget.refresh_from_db()
    assert globex.widget.name == "Globex site"


def test_operators_cannot_change_widgets(acme: Tenant) -> None:
    operator = logged_in_client(acme.operators[0])
    assert operator.get("/settings/widgets/").status_code == 403
    assert operator.post(f"/settings/widgets/{acme.widget.pk}/",
                         {"name": "x", "title": "y"}).status_code == 403


def test_config_of_an_unknown_widget_is_not_found(db: Any, client: Client) -> None:
    response = client.get("/widget/api/wk_missing/config", HTTP_ORIGIN="https://a.example")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "widget_not_found"
    assert client.get("/widget/frame/wk_missing/").status_code == 404


def test_config_answers_only_the_allowed_origins(acme: Tenant, client: Client) -> None:
    acme.widget.allowed_origins = "https://shop.example.com"
    acme.widget.save()
    url = f"/widget/api/{acme.widget.key}/config"
    ok = client.get(url, HTTP_ORIGIN="https://shop.example.com")
    assert ok.status_code == 200 and ok.json()["title"] == acme.widget.title
    assert ok["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert ok["Vary"] == "Origin"
    assert client.get(url)["Vary"] == "Origin"  # cached per origin, even without one
    refused = client.get(url, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"


def test_the_frame_may_only_be_embedded_by_the_allowed_origins(acme: Tenant,
                                                               client: Client) -> None:
    acme.widget.allowed_origins = "https://shop.example.com\nhttps://www.example.com"
    acme.widget.save()
    response = client.get(f"/widget/frame/{acme.widget.key}/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors https://shop.example.com https://www.example.com;" in csp
    assert "X-Frame-Options" not in response


def test_an_empty_allowed_list_lets_any_site_embed(acme: Tenant, client: Client) -> None:
    response = client.get(f"/widget/frame/{acme.widget.key}/")
    assert "frame-ancestors *;" in response["Content-Security-Policy"]
    assert client.get(f"/widget/api/{acme.widget.key}/config",
                      HTTP_ORIGIN="https://any.example").status_code == 200


def test_visitor_http_api_is_idempotent_and_token_scoped(acme: Tenant, globex: Tenant,
                                                         client: Client) -> None:
    session = client.post(f"/widget/api/{acme.widget.key}/session", "{}",
                          content_type="application/json").json()
    auth = {"Authorization": f"Bearer {session['token']}"}
    url = f"/widget/api/{acme.widget.key}/messages"
    body = json.dumps({"client_id": "m-1", "body": "Hello <b>there</b>"})
    first = client.post(url, body, content_type="application/json", headers=auth)
    again = client.post(url, body, content_type="application/json", headers=auth)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["seq"] == first.json()["seq"]
    assert Event.objects.count() == 1
    events = client.get(url + "?after=0", headers=auth).json()["events"]
    assert [e["body"] for e in events] == ["Hello <b>there</b>"]
    # The same token is nobody on another company's widget.
    other = client.get(f"/widget/api/{globex.widget.key}/messages?after=0", headers=auth)
    assert other.status_code == 401
    assert client.get(url, HTTP_AUTHORIZATION="Bearer forged").status_code == 401


def test_visitor_http_api_refuses_bad_bodies_clearly(acme: Tenant, client: Client) -> None:
    token = client.post(f"/widget/api/{acme.widget.key}/session", "{}",
                        content_type="application/json").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/widget/api/{acme.widget.key}/messages"
    assert client.post(url, "not json", content_type="application/json",
                       headers=auth).json()["error"]["code"] == "bad_request"
    too_long = client.post(url, json.dumps({"client_id": "x", "body": "y" * 5001}),
                           content_type="application/json", headers=auth)
    assert too_long.status_code == 400
    assert too_long.json()["error"] == {"code": "message_too_long",
                                        "message": "A message is at most 5000 characters.",
                                        "limit": 5000}
    huge = client.post(url, json.dumps({"client_id": "x", "body": "y" * 70_000}),
                       content_type="application/json", headers=auth)
    assert huge.status_code == 413
    assert not Event.objects.exists()


def test_the_inbox_shows_html_as_text(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="x",
                                     body="<script>alert(1)</script>")
    page = logged_in_client(acme.operators[0]).get(
        f"/inbox/{posted.event.conversation_id}/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E" in page


def test_another_companys_conversation_is_not_found(acme: Tenant, globex: Tenant) -> None:
    visitor, _ = do_identify_visitor(globex.widget, None)
    posted = do_post_visitor_message(visitor, client_id="x", body="secret")
    acme_op = logged_in_client(acme.operators[0])
    assert acme_op.get(f"/inbox/{posted.event.conversation_id}/").status_code == 404
    assert "secret" not in acme_op.get("/inbox/").content.decode()
    globex_op = logged_in_client(globex.operators[0])
    assert globex_op.get(f"/inbox/{posted.event.conversation_id}/").status_code == 200


def test_only_admins_of_the_company_see_the_identity_secret(acme: Tenant, globex: Tenant) -> None:
    page = logged_in_client(acme.owner).get(f"/settings/widgets/{acme.widget.pk}/")
    assert acme.widget.secret in page.content.decode()
    assert logged_in_client(acme.operators[0]).get(
        f"/settings/widgets/{acme.widget.pk}/").status_code == 403
    assert logged_in_client(globex.owner).get(
        f"/settings/widgets/{acme.widget.pk}/").status_code == 404


def test_config_is_revalidated_with_an_etag(acme: Tenant, client: Client) -> None:
    url = f"/widget/api/{acme.widget.key}/config"
    first = client.get(url, HTTP_ORIGIN="https://a.example")
    tag = first["ETag"]
    again = client.get(url, HTTP_ORIGIN="https://a.example", HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    assert again["Access-Control-Allow-Origin"] == "https://a.example"
    acme.widget.title = "New greeting"
    acme.widget.save()
    changed = client.get(url, HTTP_ORIGIN="https://a.example", HTTP_IF_NONE_MATCH=tag)
    assert changed.status_code == 200 and changed.json()["title"] == "New greeting"
