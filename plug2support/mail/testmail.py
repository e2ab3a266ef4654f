""""Send a test mail" (F1): proof that mail to a support address reaches the inbox.

The test goes to the business's own address when it is set, so it travels the way a
customer's mail does (through their forwarding, or the mailbox we fetch); else straight to
the support address. Its subject carries `[Plug2Support test <token>]`; processing knows the
token (the address's `test_token`) and records `test_received_at` instead of opening a
conversation. Mail to an address on our own inbound domain never leaves: it is handed to
intake here, as the SMTP gateway would.
"""

from __future__ import annotations

import secrets
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from plug2support.lib.ratelimit import hit

from . import addresses
from .intake import accept
from .models import SupportAddress, Via

# The subject's marker, as processing looks for it.
SUBJECT_TAG = "[Plug2Support test {token}]"
# How long the page waits for the test before it says to check the forwarding.
WAIT_SECONDS = 120
# A test can go to any address an admin typed: a few an hour per company, no more.
TESTS_PER_HOUR = 20


class MailTestRefused(Exception):
    pass


def subject_for(token: str) -> str:
    return f"Test mail from Plug2Support {SUBJECT_TAG.format(token=token)}"


def recipient_for(support: SupportAddress) -> str:
    return support.own_address or support.address


def do_send_test_mail(support: SupportAddress) -> SupportAddress:
    """A new test: a fresh token (an older test arriving late no longer counts), sent by the
    worker after the commit."""
    if not hit(f"mail-test:{support.company_id}", TESTS_PER_HOUR, 3600):
        raise MailTestRefused(f"At most {TESTS_PER_HOUR} test mails an hour; try again later.")
    token = secrets.token_hex(8)
    now = timezone.now()
    SupportAddress.objects.filter(pk=support.pk).update(
        test_token=token, test_sent_at=now, test_received_at=None)
    support.test_token, support.test_sent_at, support.test_received_at = token, now, None
    transaction.on_commit(lambda: send_test_mail.enqueue(support.pk, token))
    return support


def compose(support: SupportAddress, token: str) -> EmailMessage:
    to = recipient_for(support)
    text = (f"This is a test mail from Plug2Support, sent to {to} to check that mail to "
            f"it reaches your inbox (support address {support.address}).\n\n"
            "When it arrives, the E-mail settings page shows it. Nothing to answer.\n")
    return EmailMessage(
        subject_for(token), text, settings.DEFAULT_FROM_EMAIL, [to],
        headers={"Message-ID": make_msgid("p2s-test", domain=settings.INBOUND_EMAIL_DOMAIN),
                 # RFC 3834: nobody's auto-responder answers it.
                 "Auto-Submitted": "auto-generated"})


@task()
def send_test_mail(address_id: int, token: str) -> None:
    support = SupportAddress.objects.filter(pk=address_id, test_token=token).first()
    if support is None:  # deleted, or a newer test replaced this one: nothing to send
        return
    message = compose(support, token)
    to = message.to[0]
    if addresses.is_inbound_domain(to):
        # One of our own addresses: delivered here, as the SMTP gateway would.
        accept(message.message().as_bytes(), [to], via=Via.LOCAL)
    else:
        get_connection().send_messages([message])


def status(support: SupportAddress) -> dict[str, object]:
    """The test's state, as the page polls it: `none`, `waiting`, `late` (longer than
    WAIT_SECONDS: the forwarding is likely missing) or `arrived`."""
    sent, received = support.test_sent_at, support.test_received_at
    if sent is None:
        return {"state": "none"}
    answer: dict[str, object] = {"state": "waiting", "sent_at": sent.isoformat()}
    if received is not None:
        answer.update(state="arrived", received_at=received.isoformat(),
                      seconds=max(0, round((received - sent).total_seconds())))
        return answer
    waited = (timezone.now() - sent).total_seconds()
    answer["waited"] = round(waited)
    if waited > WAIT_SECONDS:
        answer["state"] = "late"
    return answer
