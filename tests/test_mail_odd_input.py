"""Whatever bytes arrive as mail (F5, "bad input"), the channel stores them and processes
them to an end — a conversation, or a reason it made none — and never fails on them."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.conversations.models import Conversation
from plug2support.mail.intake import accept
from plug2support.mail.models import InboundMail, InboundStatus, Via
from plug2support.mail.support import default_address

from .conftest import Tenant

HEADERS = st.sampled_from([
    b"From: Jane <jane@customer.example>\r\n",
    b"From: =?utf-8?b?SmFuZSDwn5iA?= <jane@customer.example>\r\n",
    b"From: \x00\xff <@>\r\n",
    b"Subject: =?iso-8859-1?q?caf=E9?=\r\n",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    b"Content-Type: text/html; charset=x-unknown\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Message-ID: <\x00weird@id>\r\n",
    b"In-Reply-To: <" + b"x" * 500 + b">\r\n",
    b"Auto-Submitted: no\r\n",
    b"Authentication-Results: mx; dmarc=fail\r\n",
])
BODIES = st.one_of(
    st.binary(max_size=400),
    st.just(b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"),
    st.just(b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"!!!not base64\r\n--b"),
    st.just(b"<script>alert(1)</script><img src=x onerror=alert(1)><p>hi</p>"),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.lists(HEADERS, max_size=6), body=BODIES)
def test_any_mail_is_stored_and_processed_to_an_end(acme: Tenant, headers: list[bytes],
                                                    body: bytes) -> None:
    support = default_address(acme.company)
    raw = b"".join(headers) + b"\r\n" + body
    [accepted] = accept(raw, [support.address], via=Via.SMTP)
    mail = InboundMail.objects.get(pk=accepted.mail.pk)
    assert mail.status != InboundStatus.FAILED, mail.reason
    assert mail.status != InboundStatus.QUEUED
    if mail.status == InboundStatus.PROCESSED:
        assert mail.conversation_id is not None and mail.event_id is not None
        conversation = Conversation.objects.get(pk=mail.conversation_id)
        assert conversation.company_id == acme.company.pk
        event = conversation.events.get(pk=mail.event_id)
        assert event.email is not None and "<script" not in event.email["html"]


def test_mail_for_no_company_is_stored_nowhere(acme: Tenant, settings: Any) -> None:
    assert accept(b"From: a@b.example\r\n\r\nhi", [f"nobody@{settings.INBOUND_EMAIL_DOMAIN}",
                                                     "someone@gmail.com"], via=Via.SMTP) == []
    assert not InboundMail.objects.exists()
