"""Web Push (M11) end to end to a push service of the test's own: it decrypts the payload
with the subscription's private key (http-ece, aes128gcm) and checks the VAPID JWT."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from plug2support.push.keys import b64url, b64url_decode
from plug2support.push.models import PushSubscription
from plug2support.push.sending import push_alert
from plug2support.realtime.presence import connect, set_focus

from .conftest import Tenant, logged_in_client


class PushService:
    def __init__(self) -> None:
        self.status = [201]
        self.received: list[dict[str, Any]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                service.received.append({"auth": self.headers["Authorization"], "body": body})
                self.send_response(service.status.pop(0) if len(service.status) > 1
                                   else service.status[0])
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/push/abc"


@pytest.fixture
def service(settings: Any) -> Any:
    settings.PUSH_HTTP_HOSTS = ["127.0.0.1"]
    s = PushService()
    yield s
    s.server.shutdown()


def browser_keys() -> tuple[ec.EllipticCurvePrivateKey, str, bytes, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    auth = os.urandom(16)
    return private, b64url(public), auth, b64url(auth)


def subscribe(client: Any, endpoint: str, p256dh: str, auth: str, **headers: Any) -> Any:
    return client.post("/console/push/subscription",
                       json.dumps({"endpoint": endpoint, "keys": {"p256dh": p256dh,
                                                                  "auth": auth}}),
                       content_type="application/json", **headers)


def check_vapid(header: str, public_key: str) -> dict[str, Any]:
    assert header.startswith("vapid ")
    parts = dict(p.strip().split("=", 1) for p in header[6:].split(","))
    assert parts["k"] == public_key
    head, claims, signature = parts["t"].split(".")
    raw = b64url_decode(signature)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(parts["k"]))
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                    int.from_bytes(raw[32:], "big")),
               f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    return json.loads(b64url_decode(claims))


def test_push_end_to_end(acme: Tenant, service: PushService) -> None:
    user = acme.operators[0]
    client = logged_in_client(user)
    public_key = client.get("/console/push/subscription").json()["public_key"]
    private, p256dh, auth, auth_text = browser_keys()
    assert subscribe(client, service.url, p256dh, auth_text).status_code == 201
    assert push_alert.call(acme.company.pk, [user.pk], "mention", "Ann mentioned you",
                           "/inbox/1/", 1) == 1
    received = service.received[0]
    claims = check_vapid(received["auth"], public_key)
    assert claims["aud"] == service.url.rsplit("/push", 1)[0]
    payload = json.loads(http_ece.decrypt(received["body"], private_key=private,
                                          auth_secret=auth, version="aes128gcm"))
    assert payload == {"title": "Ann mentioned you", "url": "/inbox/1/", "kind": "mention"}


def test_gone_dropped_and_500_retried(acme: Tenant, service: PushService) -> None:
    user = acme.operators[0]
    client = logged_in_client(user)
    _p, p256dh, _a, auth = browser_keys()
    subscribe(client, service.url, p256dh, auth)
    service.status = [500, 500, 201]
    push_alert.call(acme.company.pk, [user.pk], "mention", "t", "/inbox/1/", 1)
    assert len(service.received) == 3  # retried (the immediate backend runs retries at once)
    service.status = [410]
    push_alert.call(acme.company.pk, [user.pk], "mention", "t", "/inbox/1/", 1)
    assert not PushSubscription.objects.exists()


def test_preference_off_and_focus(acme: Tenant, service: PushService) -> None:
    user = acme.operators[0]
    client = logged_in_client(user)
    _p, p256dh, _a, auth = browser_keys()
    subscribe(client, service.url, p256dh, auth)
    connection = connect(acme.membership(user).pk)
    set_focus(connection, 7)
    assert push_alert.call(acme.company.pk, [user.pk], "mention", "t", "/inbox/7/", 7) == 0
    assert push_alert.call(acme.company.pk, [user.pk], "mention", "t", "/inbox/8/", 8) == 1
    client.post("/settings/alerts/", {})  # every box off
    assert push_alert.call(acme.company.pk, [user.pk], "mention", "t", "/inbox/8/", 8) == 0


@pytest.mark.parametrize("endpoint,p256dh,auth,error", [
    ("ftp://x/y", None, None, "invalid_endpoint"),
    ("http://evil.test/y", None, None, "invalid_endpoint"),
    (None, "AAAA", None, "invalid_keys"),
    (None, None, b64url(b"short"), "invalid_keys"),
])
def test_malformed_refused(acme: Tenant, service: PushService, endpoint: Any, p256dh: Any,
                           auth: Any, error: str) -> None:
    client = logged_in_client(acme.operators[0])
    _p, good_key, _a, good_auth = browser_keys()
    response = subscribe(client, endpoint or service.url, p256dh or good_key, auth or good_auth)
    assert response.status_code == 400 and response.json()["error"] == error


def test_foreign_origin_and_two_companies(acme: Tenant, globex: Tenant,
                                          service: PushService) -> None:
    client = logged_in_client(acme.operators[0])
    _p, key, _a, auth = browser_keys()
    assert subscribe(client, service.url, key, auth,
                     HTTP_ORIGIN="https://evil.test").status_code == 403
    subscribe(client, service.url, key, auth)
    other = logged_in_client(globex.operators[0])
    response = other.delete("/console/push/subscription", json.dumps({"endpoint": service.url}),
                            content_type="application/json")
    assert response.json() == {"removed": 0}
    assert PushSubscription.objects.filter(company=acme.company).count() == 1
    assert push_alert.call(globex.company.pk, [acme.operators[0].pk], "mention", "t", "/",
                           None) == 0


def test_a_new_pool_conversation_and_a_reply_push(
        acme: Tenant, service: PushService, django_capture_on_commit_callbacks: Any) -> None:
    from plug2support.conversations.actions.messages import do_post_visitor_message
    from plug2support.conversations.actions.teamwork import do_claim
    from plug2support.conversations.actions.visitors import do_identify_visitor
    from plug2support.conversations.models import Conversation

    user = acme.operators[0]
    private, p256dh, auth, auth_text = browser_keys()
    subscribe(logged_in_client(user), service.url, p256dh, auth_text)
    visitor, _ = do_identify_visitor(acme.widget, None)
    with django_capture_on_commit_callbacks(execute=True):
        posted = do_post_visitor_message(visitor, client_id="v1", body="my secret order")
    [first] = service.received
    payload = json.loads(http_ece.decrypt(first["body"], private_key=private,
                                          auth_secret=auth, version="aes128gcm"))
    assert payload["kind"] == "new_conversation" and "secret" not in payload["title"]
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    do_claim(acme.membership(user), conversation)
    with django_capture_on_commit_callbacks(execute=True):
        do_post_visitor_message(visitor, client_id="v2", body="hello again")
    payload = json.loads(http_ece.decrypt(service.received[-1]["body"], private_key=private,
                                          auth_secret=auth, version="aes128gcm"))
    assert payload == {"title": "A customer replied", "url": f"/inbox/{conversation.pk}/",
                       "kind": "customer_reply"}


@settings_hypothesis(max_examples=60, deadline=None)
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                         lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(["endpoint", "keys", "p256dh",
                                                            "auth", "x"]), inner, max_size=4),
                         max_leaves=8))
def test_any_subscription_body_is_refused_or_checked_never_a_crash(body: Any) -> None:
    from plug2support.push.subscriptions import SubscriptionError, check_subscription
    try:
        check_subscription(body)
    except SubscriptionError as error:
        assert error.code.startswith("invalid_")
