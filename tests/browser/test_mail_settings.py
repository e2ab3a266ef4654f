"""The E-mail settings page in a real browser (F1), on a laptop and on a phone: it fits, axe
finds nothing, and "Send a test mail" shows "waiting…" and then, without a reload, "Arrived".

The test is the worker: the page's request queues the test mail (tasks on a backend that only
records them), and the test runs what was queued — the send, which delivers the mail to the
inbound address here, then its processing — as `manage.py worker` would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks.signals import task_enqueued
from playwright.sync_api import Browser, Page, expect

from plug2support.mail.models import InboundMail, MailboxConnection, SupportAddress, Via
from plug2support.mail.queue import drain
from plug2support.mail.support import default_address
from plug2support.widgets.models import Widget

from ..conftest import make_tenant
from .conftest import ARTIFACTS, login
from .test_accessibility import check_fits, violations


class Queue:
    """What the pages queued for the worker, in order (the signal is the process's, so the
    server thread's enqueues are seen here)."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def received(self, sender: Any, task_result: Any, **kwargs: Any) -> None:
        self.results.append(task_result)

    def run(self, name: str) -> int:
        """Run every queued task called `name`, as the worker would; how many ran."""
        ran = [r for r in self.results if r.task.name == name]
        self.results = [r for r in self.results if r.task.name != name]
        for result in ran:
            result.task.call(*result.args, **result.kwargs)
        return len(ran)


@pytest.fixture
def queue(settings: Any) -> Iterator[Queue]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend",
                                  "ENQUEUE_ON_COMMIT": True}}
    settings.MAIL_PROCESS_AT_ONCE = False  # stored mail waits for the worker's drain
    queue = Queue()
    task_enqueued.connect(queue.received)
    yield queue
    task_enqueued.disconnect(queue.received)


def shoot(page: Page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


@pytest.mark.parametrize("name,width,height", [("desktop", 1280, 800), ("phone", 390, 844)])
def test_a_test_mail_arrives_and_the_page_says_so(browser: Browser, live: str, queue: Queue,
                                                  name: str, width: int, height: int) -> None:
    tenant = make_tenant("Maple Coffee")
    page = login(browser, live, tenant.owner.email, width, height)
    page.goto(f"{live}/settings/email/")
    support = SupportAddress.objects.get(company=tenant.company, is_default=True)
    card = page.locator(f"#address-{support.pk}")
    expect(card.locator("h2")).to_have_text(support.address)
    check_fits(page, "html")
    check_fits(page, ".content")
    assert violations(page) == []
    shoot(page, f"mail-settings-{name}", full_page=True)

    status = card.get_by_role("status")
    expect(status).to_have_text("No test sent yet.")
    card.get_by_role("button", name="Send a test mail").click()
    expect(status).to_contain_text("waiting…")
    support.refresh_from_db()
    assert support.test_sent_at is not None and support.test_received_at is None

    # The worker sends it: to an inbound address, so it is delivered here, not by SMTP.
    assert queue.run("send_test_mail") == 1
    mail = InboundMail.objects.get(company=tenant.company)
    assert mail.via == Via.LOCAL and mail.recipient == support.address
    assert f"[Plug2Support test {support.test_token}]".encode() in bytes(mail.raw)
    assert drain() == 1  # the worker's drain recognises the token: the test arrived
    assert SupportAddress.objects.get(pk=support.pk).test_received_at is not None
    expect(status).to_contain_text("Arrived at", timeout=10_000)  # polled, no reload
    expect(status).to_contain_text("after it was sent")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    check_fits(page, ".content")
    assert violations(page) == []
    card.scroll_into_view_if_needed()
    shoot(page, f"mail-arrived-{name}")


def test_the_mailbox_page_fits_and_has_no_wcag_aa_violation(browser: Browser,
                                                            live: str) -> None:
    tenant = make_tenant("Maple Coffee")
    for name, width, height in [("desktop", 1280, 800), ("phone", 390, 844)]:
        page = login(browser, live, tenant.owner.email, width, height)
        page.goto(f"{live}/settings/email/")
        support = SupportAddress.objects.get(company=tenant.company, is_default=True)
        page.goto(f"{live}/settings/email/{support.pk}/mailboxes/new/")
        page.fill("input[name=host]", "imap..bad")
        page.fill("input[name=username]", "support@maple.example")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".error").first).to_contain_text("server name")
        check_fits(page, ".content")
        assert violations(page) == []
        shoot(page, f"mail-mailbox-{name}", full_page=True)
        page.goto(f"{live}/settings/email/{support.pk}/")
        check_fits(page, ".content")
        assert violations(page) == []
        shoot(page, f"mail-address-{name}", full_page=True)
        page.context.close()


def test_several_addresses_and_a_failing_mailbox_fit_and_have_no_wcag_aa_violation(
        browser: Browser, live: str) -> None:
    tenant = make_tenant("Maple Coffee")
    shop = Widget.objects.create(company=tenant.company, name="Maple Coffee online shop")
    support = default_address(tenant.company)
    second = SupportAddress.objects.create(
        company=tenant.company, widget=shop, local_part="maple-coffee-shop-orders-9f3e",
        own_address="orders-and-wholesale@maple-coffee-roasters.example",
        display_name="Maple Coffee orders", test_token="t",
        test_sent_at=timezone.now() - timedelta(minutes=5))
    now = timezone.now()
    MailboxConnection.objects.create(
        company=tenant.company, address=second, host="imap.maple-coffee-roasters.example",
        username="orders-and-wholesale@maple-coffee-roasters.example",
        password_encrypted="sealed", last_checked_at=now, last_success_at=now - timedelta(days=1),
        last_error="LOGIN failed: [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
    for name, width, height in [("desktop", 1280, 800), ("phone", 390, 844)]:
        page = login(browser, live, tenant.owner.email, width, height)
        page.goto(f"{live}/settings/email/")
        expect(page.locator(f"#address-{second.pk}").get_by_role("status")).to_contain_text(
            "not arrived yet")
        expect(page.locator(f"#address-{support.pk}")).to_contain_text("Default")
        check_fits(page, "html")
        check_fits(page, ".content")
        assert violations(page) == []
        page.locator(f"#address-{second.pk}").scroll_into_view_if_needed()
        shoot(page, f"mail-several-{name}", full_page=True)
        page.context.close()
