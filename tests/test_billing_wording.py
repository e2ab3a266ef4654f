"""Issue 15.14 (billing wording): invoices say only the ways to pay that are offered, an
invoice already paid when its e-mail goes out is a receipt (decided when the task runs), a
plan-change invoice says when the change applies (not the renewal's sentence), the page says
the amount once, counts take their plural forms, and an empty chart claims no highest."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from email.header import decode_header, make_header
from typing import Any

import pytest
import time_machine
from django.core import mail

from plug2support.billing.access import standard_plan
from plug2support.billing.invoices import payment_text, render_pdf, run_invoice_day
from plug2support.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentMethod,
    PlanKind,
    Subscription,
)
from plug2support.billing.payments import do_record_payment

from .conftest import Inbox, Tenant, body_of, logged_in_client, make_tenant


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def paying(tenant: Tenant, *, seats: int = 3, paid_until: datetime) -> None:
    Subscription.objects.filter(company=tenant.company).update(
        plan=standard_plan(PlanKind.STARTUP), seats=seats, term_months=1,
        paid_until=paid_until, anchor=at(2026, 1, 1), period_start=at(2026, 1, 1))


def text_of(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def pdf_text(data: bytes) -> str:
    """The PDF's page content, its streams inflated (fpdf2 compresses them)."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S)
    found = []
    for stream in streams:
        try:
            found.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return " ".join(found)


def renewal_mail(tenant: Tenant, smtp: Inbox) -> tuple[Invoice, Any]:
    paying(tenant, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    [message] = smtp.messages
    return Invoice.objects.get(), message


@pytest.mark.parametrize("stripe", [False, True])
def test_an_invoice_offers_the_card_only_when_card_payments_are_set_up(
        acme: Tenant, smtp: Inbox, settings: Any, stripe: bool) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_not_a_real_key" if stripe else ""
    invoice, message = renewal_mail(acme, smtp)
    text, html = body_of(message), body_of(message, "html")
    pdf = pdf_text(render_pdf(invoice))
    for shown in (text, html, pdf):
        assert ("card" in shown) is stripe
        assert invoice.reference in shown and "IBAN" in shown
    assert ("Pay by bank transfer to Plug2Support, IBAN" in text_of(html)) is not stripe
    assert ("Pay by card on the billing page" in text) is stripe
    # The billing page's address is still given, for the invoice and what is left to pay.
    assert f"{settings.PUBLIC_URL}/billing/" in text


def test_a_renewal_invoice_says_paying_early_is_fine(acme: Tenant, smtp: Inbox) -> None:
    invoice, message = renewal_mail(acme, smtp)
    assert "Paying early is fine: the new period starts where the current one ends" in \
        body_of(message)
    assert "Paying before the due date is welcome" in payment_text(invoice)


def test_a_plan_change_invoice_says_when_the_change_applies_not_the_renewal_sentence(
        acme: Tenant, smtp: Inbox) -> None:
    paying(acme, seats=3, paid_until=at(2026, 5, 1))
    owner = logged_in_client(acme.owner)
    with time_machine.travel(at(2026, 4, 21, 12), tick=False):
        owner.post("/billing/", {"plan": "startup", "seats": "5", "months": "1",
                                 "confirm": "1"})
    invoice = Invoice.objects.get()
    assert invoice.kind == InvoiceKind.CHANGE
    [message] = smtp.messages
    for shown in (body_of(message), text_of(body_of(message, "html")),
                  payment_text(invoice)):
        assert "new period starts where the current one ends" not in shown
        assert "Paying" not in shown
    sentence = "applies as soon as this invoice is paid, and runs to 1 May 2026."
    assert f"The Startup plan with 5 seats {sentence}" in body_of(message)
    assert f"The Startup plan with 5 seats {sentence}" in text_of(body_of(message, "html"))
    assert "The change applies as soon as this invoice is paid, and runs to 01 May 2026." in \
        payment_text(invoice)


def test_an_invoice_paid_before_its_email_goes_out_is_sent_as_a_receipt(
        acme: Tenant, smtp: Inbox, settings: Any) -> None:
    """The e-mail task decides when it runs: the invoice was open when issued (a first try
    failed here, as a worker may run it later), paid by bank transfer, then the retry."""
    paying(acme, paid_until=at(2026, 12, 3))
    smtp.refuse.add(acme.owner.email)
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    assert invoice.emailed_at is None and not smtp.messages
    with time_machine.travel(at(2026, 11, 21, 9), tick=False):
        do_record_payment(invoice.pk, invoice.total, method=PaymentMethod.BANK_TRANSFER,
                          external_id="bank-early")
    smtp.refuse.clear()
    from plug2support.billing.invoices import send_invoice

    send_invoice.call(invoice.pk)
    [message] = smtp.messages
    text, html = body_of(message), text_of(body_of(message, "html"))
    subject = str(make_header(decode_header(message["Subject"])))
    assert subject == f"Receipt: invoice {invoice.display_number} from Plug2Support is paid — " \
                      "57.00 EUR"
    for shown in (text, html):
        assert f"{invoice.display_number} for Acme is paid" in shown
        assert "paid on 21 November 2026" in shown and "nothing to pay" in shown
        assert "Total due" not in shown and "Pay by" not in shown
        assert "quoting" not in shown
    pdf = pdf_text(render_pdf(Invoice.objects.get()))
    assert "Paid on 21 November 2026: nothing is due." in pdf and "How to pay" not in pdf


def test_the_demos_invoice_email_is_a_receipt_when_the_worker_sends_it(
        transactional_db: Any, settings: Any) -> None:
    """ops/demo.py buys its year and records the bank transfer at once; the worker sends the
    invoice e-mail afterwards, as in `make run`."""
    from django_tasks_db.management.commands.db_worker import Worker

    from plug2support.ops.demo import load_demo

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    demo = load_demo()
    assert mail.outbox == []  # queued, not sent
    Worker(queue_names=["*"], interval=0, batch=True, backend_name="default",
           startup_delay=False, max_tasks=None, worker_id="test",
           excluded_queue_names=[]).run()
    invoice = Invoice.objects.get(company=demo.company)
    assert invoice.status == InvoiceStatus.PAID and invoice.emailed_at is not None
    [message] = [m for m in mail.outbox if invoice.display_number in m.subject]
    assert message.subject.startswith("Receipt:")
    assert "is paid: thank you" in message.body
    assert "Total due" not in message.body and "Pay by" not in message.body


def test_the_confirmation_says_the_amount_once(acme: Tenant, smtp: Inbox) -> None:
    paying(acme, seats=3, paid_until=at(2026, 5, 1))
    owner = logged_in_client(acme.owner)
    with time_machine.travel(at(2026, 4, 21, 12), tick=False):
        page = owner.post("/billing/", {"plan": "startup", "seats": "5", "months": "1",
                                        "confirm": "1"}, follow=True).content.decode()
    invoice = Invoice.objects.get()
    [flash] = re.findall(r"Invoice \d+ is ready:[^<]*", page)
    assert flash == (f"Invoice {invoice.display_number} is ready: 12.67 EUR for the 10 of 30 "
                     "days left; the change applies when paid.")
    assert flash.count("12.67") == 1


def test_the_confirmation_says_the_invoice_total_after_account_credit(
        acme: Tenant, smtp: Inbox) -> None:
    Subscription.objects.filter(company=acme.company).update(
        plan=standard_plan(PlanKind.FREE), paid_until=None, credit=Decimal("10.00"))
    owner = logged_in_client(acme.owner)
    with time_machine.travel(at(2026, 4, 10, 9), tick=False):
        page = owner.post("/billing/", {"plan": "startup", "seats": "3", "months": "1",
                                        "confirm": "1"}, follow=True).content.decode()
    [flash] = re.findall(r"Invoice \d+ is ready:[^<]*", page)
    assert flash.endswith("is ready: 47.00 EUR (10.00 EUR of account credit used) for "
                          "Startup, 3 seats for 1 month; it starts when paid.")


def test_counts_take_their_plural_forms_on_the_billing_page(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    # Acme has three people; Free allows one invited user.
    page = owner.post("/billing/", {"plan": "free", "seats": "1", "months": "1",
                                    "confirm": "1"}, follow=True).content.decode()
    assert "The Free plan allows 1 invited user; this company has 2." in text_of(page)
    assert "1 invited users" not in page
    from plug2support.billing.models import Plan

    tiny = Plan.objects.create(code="tiny", name="Tiny", kind=PlanKind.CUSTOM,
                               traffic_limit=1, invited_users_limit=5)
    Subscription.objects.filter(company=acme.company).update(plan=tiny)
    page = text_of(owner.get("/billing/").content.decode())
    assert "Tiny · 1 interlocutor a period · 5 invited users" in page


def test_an_invite_over_the_limit_says_user_in_the_singular(db: Any) -> None:
    from plug2support.billing.actions import BillingError, check_invite_allowed

    lone = make_tenant("Lone", operators=1)
    Subscription.objects.filter(company=lone.company).update(plan=standard_plan(PlanKind.FREE))
    with pytest.raises(BillingError, match="allows 1 invited user; "):
        check_invite_allowed(lone.company)


def test_a_company_with_no_interlocutors_gets_no_highest_in_its_chart(
        db: Any) -> None:
    free = make_tenant("Quiet", operators=0)
    page = logged_in_client(free.owner).get("/billing/").content.decode()
    [title] = re.findall(r'<title id="chart-title">([^<]*)</title>', page)
    assert "highest" not in title
    assert title == "Interlocutors counted each day this period (none yet)"


def test_a_busy_companys_chart_names_its_highest(acme: Tenant) -> None:
    from plug2support.conversations.actions.messages import do_post_visitor_message
    from plug2support.conversations.actions.visitors import do_identify_visitor

    for _ in range(2):
        visitor, _ = do_identify_visitor(acme.widget, None)
        do_post_visitor_message(visitor, client_id="x", body="Hi")
    page = logged_in_client(acme.owner).get("/billing/").content.decode()
    [title] = re.findall(r'<title id="chart-title">([^<]*)</title>', page)
    assert title == "Interlocutors counted each day this period (highest 2)"


def test_an_invoice_the_account_credit_pays_is_said_paid_on_the_page_and_by_email(
        acme: Tenant, smtp: Inbox) -> None:
    Subscription.objects.filter(company=acme.company).update(
        plan=standard_plan(PlanKind.FREE), paid_until=None, credit=Decimal("100.00"))
    owner = logged_in_client(acme.owner)
    with time_machine.travel(at(2026, 4, 10, 9), tick=False):
        page = owner.post("/billing/", {"plan": "startup", "seats": "3", "months": "1",
                                        "confirm": "1"}, follow=True).content.decode()
    invoice = Invoice.objects.get()
    assert (invoice.total, invoice.status) == (Decimal("0.00"), InvoiceStatus.PAID)
    assert (f"Invoice {invoice.display_number} is paid from your account credit: Startup, "
            "3 seats for 1 month; the change applies now.") in page
    assert "is ready" not in page
    [message] = smtp.messages
    assert "is paid: thank you" in body_of(message) and "Pay by" not in body_of(message)
