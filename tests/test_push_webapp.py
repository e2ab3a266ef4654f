"""The installable console's public answers (M11: manifest, service worker, offline page)
and the subscription endpoint's CSRF and company scoping, without a browser
(tests/browser/test_push_ui.py drives them in Chromium)."""

from __future__ import annotations

import json

from django.test import Client

from plug2support.push.models import PushSubscription
from plug2support.push.views import endpoint_hash

from .conftest import Tenant, logged_in_client
from .test_push import browser_keys


def a_subscription(endpoint: str = "https://push.example.net/send/abc") -> str:
    _private, p256dh, _auth, auth = browser_keys()
    return json.dumps({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})


def test_a_subscription_without_the_csrf_token_is_refused(acme: Tenant) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme.operators[0])
    client.get("/settings/alerts/")  # a console page: the CSRF cookie is set
    refused = client.post("/console/push/subscription", a_subscription(),
                          content_type="application/json")
    assert refused.status_code == 403
    assert not PushSubscription.objects.exists()
    saved = client.post("/console/push/subscription", a_subscription(),
                        content_type="application/json",
                        headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    assert saved.status_code == 201
    deleted = client.delete("/console/push/subscription",
                            json.dumps({"endpoint": "https://push.example.net/send/abc"}),
                            content_type="application/json")
    assert deleted.status_code == 403 and PushSubscription.objects.count() == 1


def test_the_saved_endpoints_are_told_hashed_to_their_member_in_their_company_only(
        acme: Tenant, globex: Tenant) -> None:
    endpoint = "https://push.example.net/send/abc"
    client = logged_in_client(acme.operators[0])
    assert client.get("/console/push/subscription").json()["endpoints"] == []
    client.post("/console/push/subscription", a_subscription(endpoint),
                content_type="application/json")
    answer = client.get("/console/push/subscription").json()
    assert answer["endpoints"] == [endpoint_hash(endpoint)]
    assert endpoint not in json.dumps(answer)  # a capability URL: never sent back
    teammate = logged_in_client(acme.operators[1]).get("/console/push/subscription").json()
    other = logged_in_client(globex.operators[0]).get("/console/push/subscription").json()
    assert teammate["endpoints"] == other["endpoints"] == []


def test_manifest_worker_and_offline_page_are_public_and_the_same_for_everyone(
        acme: Tenant) -> None:
    member = logged_in_client(acme.operators[0])
    for path in ["/manifest.webmanifest", "/sw.js", "/offline/"]:
        anonymous = Client().get(path)
        signed_in = member.get(path)
        assert anonymous.status_code == signed_in.status_code == 200, path
        assert anonymous.content == signed_in.content, path
        assert "Cookie" not in signed_in.get("Vary", ""), path  # the session is never read
        assert "Set-Cookie" not in signed_in.headers, path
    offline = member.get("/offline/").content.decode()
    assert acme.operators[0].email not in offline and acme.company.name not in offline
    assert "csrfmiddlewaretoken" not in offline


def test_the_service_worker_is_served_from_the_root_and_caches_static_files_only(
        acme: Tenant) -> None:
    answer = Client().get("/sw.js")
    assert answer["Content-Type"] == "text/javascript; charset=utf-8"
    assert answer["Cache-Control"] == "no-cache"
    first_line, code = answer.content.decode().split("\n", 1)
    shell = json.loads(first_line.removeprefix("const SHELL = ").removesuffix(";"))
    assert shell["offline"] == "/offline/" and "/offline/" in shell["urls"]
    assert "/static/console/app.css" in shell["urls"]
    assert "/static/widget/live.js" in shell["urls"]  # the inbox's socket module
    assert [u for u in shell["urls"] if not u.startswith("/static/") and u != "/offline/"] == []
    assert "push" in code and "notificationclick" in code


def test_the_manifest_and_worker_are_linked_from_signed_in_pages_only(acme: Tenant) -> None:
    page = logged_in_client(acme.operators[0]).get("/settings/alerts/").content.decode()
    assert 'rel="manifest" href="/manifest.webmanifest"' in page
    assert "console/install.js" in page and "console/push.js" in page
    login = Client().get("/accounts/login/").content.decode()
    assert 'rel="manifest"' not in login and "install.js" not in login
