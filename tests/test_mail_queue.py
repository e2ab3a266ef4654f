"""The inbound mail queue (mail/queue.py): stored mail waits Queued until a worker's drain
takes it; many drains process each message once; intake wakes its own process's drain; a
message that fails is marked and the drain goes on."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import make_msgid
from typing import Any

import pytest

from plug2support.conversations.models import Conversation, Event
from plug2support.mail import processing, queue
from plug2support.mail.intake import accept
from plug2support.mail.models import InboundMail, InboundStatus, Via
from plug2support.mail.support import default_address

from .conftest import Tenant, make_tenant


@pytest.fixture
def acme(transactional_db: Any, settings: Any) -> Tenant:
    """Committed (the drains are threads with their own connections); mail waits for them."""
    settings.MAIL_PROCESS_AT_ONCE = False
    return make_tenant("Acme")


def store(tenant: Tenant, n: int) -> list[int]:
    address = default_address(tenant.company).address
    ids = []
    for i in range(n):
        raw = (f"From: customer{i}@customer.example\r\nTo: {address}\r\n"
               f"Subject: Question {i}\r\nMessage-ID: {make_msgid(domain='customer.example')}"
               f"\r\n\r\nHello number {i}.\r\n").encode()
        [accepted] = accept(raw, [address], via=Via.SMTP)
        ids.append(accepted.mail.pk)
    return ids


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the drain did not finish in time"
        time.sleep(0.05)


def queued() -> int:
    return InboundMail.objects.filter(status=InboundStatus.QUEUED).count()


def test_stored_mail_waits_for_the_drain(acme: Tenant) -> None:
    [pk] = store(acme, 1)
    assert InboundMail.objects.get(pk=pk).status == InboundStatus.QUEUED
    assert not Conversation.objects.filter(company=acme.company).exists()
    assert queue.drain() == 1
    mail = InboundMail.objects.get(pk=pk)
    assert mail.status == InboundStatus.PROCESSED and mail.conversation_id is not None
    assert queue.drain() == 0  # nothing twice


def test_two_workers_drain_each_message_once(acme: Tenant) -> None:
    ids = store(acme, 40)
    stops = [queue.start_drain(poll=0.05), queue.start_drain(poll=0.05)]
    try:
        until(lambda: queued() == 0)
    finally:
        for stop in stops:
            stop.set()
    mails = InboundMail.objects.filter(pk__in=ids)
    assert {m.status for m in mails} == {InboundStatus.PROCESSED}
    # One conversation and one message each: none processed twice.
    assert Conversation.objects.filter(company=acme.company).count() == 40
    assert Event.objects.filter(conversation__company=acme.company, kind="message").count() == 40
    assert len({m.conversation_id for m in mails}) == 40


def test_intake_wakes_the_drain_of_its_process(acme: Tenant) -> None:
    # A poll far longer than the wait: only intake's wake-up gets the mail processed.
    stop = queue.start_drain(poll=600)
    try:
        [pk] = store(acme, 1)
        until(lambda: InboundMail.objects.get(pk=pk).status != InboundStatus.QUEUED, 20)
    finally:
        stop.set()
        queue.wake()
    assert InboundMail.objects.get(pk=pk).status == InboundStatus.PROCESSED


def test_a_failing_message_is_marked_and_the_drain_goes_on(acme: Tenant,
                                                           monkeypatch: Any) -> None:
    bad, good = store(acme, 2)
    real = processing._process

    def failing(mail: InboundMail) -> tuple[str, str]:
        if mail.pk == bad:
            raise ValueError("cannot")
        return real(mail)

    monkeypatch.setattr(processing, "_process", failing)
    assert queue.drain() == 2
    assert InboundMail.objects.get(pk=bad).status == InboundStatus.FAILED
    assert InboundMail.objects.get(pk=bad).reason == "ValueError"
    assert InboundMail.objects.get(pk=good).status == InboundStatus.PROCESSED
    # The failed one's savepoint left nothing half-written: one conversation, the good one's.
    assert Conversation.objects.filter(company=acme.company).count() == 1


def test_held_mail_is_not_drained(acme: Tenant) -> None:
    [pk] = store(acme, 1)
    InboundMail.objects.filter(pk=pk).update(status=InboundStatus.HELD)
    assert queue.drain() == 0
    assert processing.process_now(pk) is True  # what release_held does once the block lifts
    assert InboundMail.objects.get(pk=pk).status == InboundStatus.PROCESSED
