"""Uploads refused before they are read (issue 15, point 8): a declared Content-Length over
the limit gets 413 at once, with no body sent; a body without a length (chunked) is cut
off at the limit; a company blocked by billing (H6) takes no uploads from its visitors.
Raw sockets against the real server: a test client would hand Django the whole body."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

from django.test import Client

from plug2support.attachments.models import Attachment
from plug2support.billing.models import Subscription

from .conftest import Tenant, logged_in_client, session_cookie
from .test_attachments import media, png_bytes, upload  # noqa: F401 (fixture)

CHUNK = b"x" * 65536


def _connect(live: str) -> socket.socket:
    address = urlsplit(live)
    sock = socket.create_connection((address.hostname, address.port), timeout=10)
    return sock


def _response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the one answer on `sock` (the server closes after it)."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
        head, _, body = data.partition(b"\r\n\r\n")
        if body and len(body) >= int(
                dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:]).get(
                    b"content-length", b"0")):
            break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def _headers(path: str, extra: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1",
             "Content-Type: multipart/form-data; boundary=b",
             *[f"{k}: {v}" for k, v in extra.items()]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _visitor_token(live: str, tenant: Tenant) -> str:
    client = Client()
    return str(client.post(f"/widget/api/{tenant.widget.key}/session", "{}",
                           content_type="application/json").json()["token"])


def test_a_declared_length_over_the_limit_is_refused_at_once_without_a_body(
        live: str, tenants: Any) -> None:
    acme, _ = tenants
    token = _visitor_token(live, acme)
    for path, auth in ((f"/widget/api/{acme.widget.key}/attachments",
                        {"Authorization": f"Bearer {token}"}),
                       ("/attachments/", {"Cookie": session_cookie(acme.operators[0])})):
        with _connect(live) as sock:
            # Ten gigabytes announced, not one byte sent: the answer cannot wait for them.
            sock.sendall(_headers(path, {**auth, "Content-Length": str(10 * 1024 ** 3)}))
            status, body = _response(sock)
        assert status == 413, path
        assert body["error"]["code"] == "too_large"
    assert not Attachment.objects.exists()


def test_a_chunked_body_is_cut_off_at_the_limit(live: str, tenants: Any, settings: Any) -> None:
    acme, _ = tenants
    settings.ATTACHMENT_MAX_BYTES = 100_000
    token = _visitor_token(live, acme)
    with _connect(live) as sock:
        sock.sendall(_headers(f"/widget/api/{acme.widget.key}/attachments",
                              {"Authorization": f"Bearer {token}",
                               "Transfer-Encoding": "chunked"}))
        # Far past the limit, and never a last chunk: only a cut-off answers this.
        try:
            for _ in range(32):
                sock.sendall(b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while sending: the answer is waiting
        status, body = _response(sock)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert not Attachment.objects.exists()


def test_a_body_within_the_limit_is_still_uploaded(live: str, tenants: Any) -> None:
    acme, _ = tenants
    token = _visitor_token(live, acme)
    content = png_bytes()
    form = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + content + b"\r\n--b--\r\n")
    with _connect(live) as sock:
        sock.sendall(_headers(f"/widget/api/{acme.widget.key}/attachments",
                              {"Authorization": f"Bearer {token}", "Connection": "close",
                               "Content-Length": str(len(form))}) + form)
        status, body = _response(sock)
    assert status == 201 and body["name"] == "a.png"


def test_a_company_blocked_by_billing_takes_no_visitor_uploads(acme: Tenant, globex: Tenant,
                                                               client: Client) -> None:
    from plug2support.billing.access import communication_block

    Subscription.objects.filter(company=acme.company).update(payment_blocked=True)
    assert communication_block(acme.company.pk) == "payment"

    def visitor_upload(tenant: Tenant) -> Any:
        token = client.post(f"/widget/api/{tenant.widget.key}/session", "{}",
                            content_type="application/json").json()["token"]
        return client.post(f"/widget/api/{tenant.widget.key}/attachments",
                           {"file": upload("a.png", png_bytes())},
                           headers={"Authorization": f"Bearer {token}"})

    refused = visitor_upload(acme)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "chat_unavailable"
    assert not Attachment.objects.filter(company=acme.company).exists()
    assert visitor_upload(globex).status_code == 201
    # Its operators still upload: notes, which may carry files, work while replies are blocked.
    operator = logged_in_client(acme.operators[0]).post(
        "/attachments/", {"file": upload("b.png", png_bytes())})
    assert operator.status_code == 201
