"""Price and proration (H8), invoices (H9) and payments (H10): numbers a finance person can
check, invoices e-mailed over a real SMTP server with their PDF, Stripe's webhooks signed for
real (only the call that would leave for Stripe's API is replaced), bank transfers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.test import Client

from plug2support.accounts.models import Company
from plug2support.billing import actions as billing
from plug2support.billing.access import communication_block, standard_plan, subscription_of
from plug2support.billing.daily import update_subscriptions
from plug2support.billing.invoices import (
    add_business_days,
    issue,
    run_deliveries,
    run_invoice_day,
)
from plug2support.billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PlanKind,
    StripeEvent,
    Subscription,
)
from plug2support.billing.payments import PaymentError, do_record_payment
from plug2support.billing.pricing import prorate, term_price

from .conftest import Inbox, Tenant, body_of, logged_in_client, staff_client

WEBHOOK_SECRET = "whsec_test_secret"


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _stripe(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_not_a_real_key"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def paying(tenant: Tenant, *, seats: int = 3, months: int = 1,
           paid_until: datetime) -> Subscription:
    # The daily update bills companies that existed at its run: made before the test's dates
    # (else a test dated today skips a company the fixture has just made).
    Company.objects.filter(pk=tenant.company.pk).update(created_at=at(2026, 1, 1))
    Subscription.objects.filter(company=tenant.company).update(
        plan=standard_plan(PlanKind.STARTUP), seats=seats, term_months=months,
        paid_until=paid_until, anchor=at(2026, 1, 1), period_start=at(2026, 1, 1))
    return Subscription.objects.select_related("plan", "company").get(company=tenant.company)


# --- price (H8) -----------------------------------------------------------------------------

def test_a_terms_price_is_seats_times_months_times_the_seat_price_less_its_discount(
        db: Any) -> None:
    startup = standard_plan(PlanKind.STARTUP)  # 19.00 a seat a month
    yearly = term_price(startup, seats=3, months=12)  # 20 % off
    assert (yearly.gross, yearly.discount, yearly.total) == (
        Decimal("684.00"), Decimal("136.80"), Decimal("547.20"))
    quarter = term_price(startup, seats=2, months=3)  # 5 % off
    assert (quarter.gross, quarter.discount, quarter.total) == (
        Decimal("114.00"), Decimal("5.70"), Decimal("108.30"))
    assert term_price(startup, seats=1, months=1).total == Decimal("19.00")


def test_more_seats_mid_term_cost_the_days_left_and_fewer_give_credit(acme: Tenant) -> None:
    subscription = paying(acme, seats=3, months=1, paid_until=at(2026, 5, 1))
    startup = standard_plan(PlanKind.STARTUP)
    # April has 30 days; on 21 April 10 are left: 5 seats cost 95.00 × 10/30 = 31.67, the
    # current 3 are worth 57.00 × 10/30 = 19.00, so 12.67 is due.
    more = prorate(subscription, startup, 5, at(2026, 4, 21, 12))
    assert (more.days_left, more.days_in_term) == (10, 30)
    assert (more.new_value, more.current_value, more.amount) == (
        Decimal("31.67"), Decimal("19.00"), Decimal("12.67"))
    fewer = prorate(subscription, startup, 2, at(2026, 4, 21, 12))
    assert fewer.amount == Decimal("-6.33")


# --- the billing page's self-serve change (H7, H8) ------------------------------------------

def test_free_to_startup_is_quoted_invoiced_and_applies_when_paid(
        acme: Tenant, globex: Tenant, smtp: Inbox) -> None:
    Subscription.objects.filter(company=acme.company).update(plan=standard_plan(PlanKind.FREE))
    client = logged_in_client(acme.owner)
    with time_machine.travel(at(2026, 4, 10, 9), tick=False):
        page = client.post("/billing/", {"plan": "startup", "seats": "3", "months": "3"})
        assert page.status_code == 200
        assert "162.45 EUR, invoiced now" in page.content.decode()  # 3 × 3 × 19 − 5 %
        assert not Invoice.objects.exists()  # a quote changes nothing
        done = client.post("/billing/", {"plan": "startup", "seats": "3", "months": "3",
                                         "confirm": "1"})
        assert done.status_code == 302
    invoice = Invoice.objects.get()
    assert (invoice.kind, invoice.total, invoice.status) == (
        InvoiceKind.CHANGE, Decimal("162.45"), InvoiceStatus.OPEN)
    assert subscription_of(acme.company.pk).plan.kind == PlanKind.FREE  # until paid
    [mail] = smtp.messages
    assert mail["To"] == acme.owner.email
    assert f"P2S-{invoice.number:06d}" in body_of(mail)

    with time_machine.travel(at(2026, 4, 12, 15), tick=False):
        do_record_payment(invoice.pk, "100.00", method=PaymentMethod.BANK_TRANSFER,
                          external_id="bank-1")
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.OPEN and invoice.balance == Decimal("62.45")
        do_record_payment(invoice.pk, "70.00", method=PaymentMethod.BANK_TRANSFER,
                          external_id="bank-2")
    invoice.refresh_from_db()
    subscription = subscription_of(acme.company.pk)
    assert invoice.status == InvoiceStatus.PAID
    assert subscription.plan.kind == PlanKind.STARTUP and subscription.seats == 3
    assert subscription.paid_until == at(2026, 7, 10, 9)  # the term from the invoice
    assert subscription.credit == Decimal("7.55")  # the over-payment
    assert subscription_of(globex.company.pk).credit == 0

    # The next invoice uses the credit first.
    with time_machine.travel(at(2026, 6, 20, 3), tick=False):
        run_invoice_day(at(2026, 6, 20, 3))
    renewal = Invoice.objects.get(kind=InvoiceKind.RENEWAL, company=acme.company)
    assert (renewal.subtotal, renewal.credit_applied, renewal.total) == (
        Decimal("162.45"), Decimal("7.55"), Decimal("154.90"))
    assert renewal.period_start == at(2026, 7, 10, 9)
    assert subscription_of(acme.company.pk).credit == 0


def test_the_billing_page_is_for_owners_and_admins_and_shows_the_balance_colour(
        acme: Tenant, globex: Tenant) -> None:
    operator = logged_in_client(acme.operators[0])
    assert operator.get("/billing/").status_code == 403
    from plug2support.billing.models import Plan

    custom = Plan.objects.create(code="small", name="Small", kind=PlanKind.CUSTOM,
                                 traffic_limit=10, invited_users_limit=5)
    Subscription.objects.filter(company=acme.company).update(plan=custom)
    from plug2support.conversations.actions.messages import do_post_visitor_message
    from plug2support.conversations.actions.visitors import do_identify_visitor
    from plug2support.conversations.models import Conversation

    owner = logged_in_client(acme.owner)
    for count, level in ((9, "ok"), (10, "red")):
        while Conversation.objects.filter(company=acme.company).count() < count:
            visitor, _ = do_identify_visitor(acme.widget, None)
            do_post_visitor_message(visitor, client_id="x", body="Hi")
        page = owner.get("/billing/").content.decode()
        assert f'class="balance {level}"' in page
        assert f'<span class="balance-value">{count}</span>' in page


# --- invoices (H9) --------------------------------------------------------------------------

def test_on_the_20th_paying_companies_get_one_invoice_each_with_its_pdf_by_email(
        acme: Tenant, globex: Tenant, smtp: Inbox) -> None:
    paying(acme, seats=3, months=12, paid_until=at(2026, 12, 3, 14, 11))
    paying(globex, seats=2, months=1, paid_until=at(2027, 2, 1))  # not this month
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        assert run_invoice_day(at(2026, 11, 20, 3)) == {"issued": 1}
        assert run_invoice_day(at(2026, 11, 20, 3)) == {"issued": 0}  # again: nothing new
    invoice = Invoice.objects.get()
    assert invoice.company == acme.company and invoice.total == Decimal("547.20")
    assert (invoice.period_start, invoice.period_end) == (at(2026, 12, 3, 14, 11),
                                                          at(2027, 12, 3, 14, 11))
    assert invoice.emailed_at is not None and invoice.emailed_to == acme.owner.email
    [mail] = smtp.messages
    assert mail["To"] == acme.owner.email
    pdf = [part for part in mail.walk() if part.get_content_type() == "application/pdf"]
    assert len(pdf) == 1
    data = pdf[0].get_payload(decode=True)
    assert isinstance(data, bytes) and data.startswith(b"%PDF")
    assert pdf[0].get_filename() == f"invoice-{invoice.number:06d}.pdf"
    assert "547.20 EUR" in body_of(mail) and "IBAN" in body_of(mail)


def test_a_renewal_invoice_is_issued_on_the_last_20th_that_leaves_the_minimum_lead(
        acme: Tenant, globex: Tenant) -> None:
    from plug2support.billing.invoices import RENEWAL_LEAD

    assert RENEWAL_LEAD == timedelta(days=7)
    # Acme's paid period ends 2 hours after the 20 March run: invoiced on 20 February (28
    # days ahead), not on 20 March with 2 hours to pay. Globex's ends 28 March 10:00: 20
    # March still leaves 8 days, so that is its invoice day.
    paying(acme, paid_until=at(2026, 3, 20, 5))
    paying(globex, paid_until=at(2026, 3, 28, 10))
    issued_on: dict[str, datetime] = {}
    for month in (1, 2, 3):
        slot = at(2026, month, 20, 3)
        with time_machine.travel(slot, tick=False):
            run_invoice_day(slot)
        for invoice in Invoice.objects.exclude(company__name__in=issued_on):
            issued_on[invoice.company.name] = invoice.issued_at
    assert issued_on == {"Acme": at(2026, 2, 20, 3), "Globex": at(2026, 3, 20, 3)}
    for invoice in Invoice.objects.all():
        assert invoice.period_start - invoice.issued_at >= RENEWAL_LEAD


def test_invoice_numbers_follow_each_other_without_gaps(acme: Tenant, globex: Tenant) -> None:
    a, g = paying(acme, paid_until=at(2026, 12, 1)), paying(globex, paid_until=at(2026, 12, 1))
    startup = standard_plan(PlanKind.STARTUP)
    numbers = [issue(sub, kind=InvoiceKind.CHANGE, plan=startup, seats=3, months=1,
                     period_start=at(2026, 12, 1), now=at(2026, 11, 1)).number
               for sub in (a, g, a)]
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            issue(g, kind=InvoiceKind.CHANGE, plan=startup, seats=3, months=1,
                  period_start=at(2026, 12, 1), now=at(2026, 11, 1))
            raise RuntimeError("the request failed after the invoice was numbered")
    numbers.append(issue(g, kind=InvoiceKind.CHANGE, plan=startup, seats=3, months=1,
                         period_start=at(2026, 12, 1), now=at(2026, 11, 1)).number)
    assert numbers == [numbers[0] + i for i in range(4)]


def test_an_undelivered_invoice_is_retried_and_staff_hear_after_two_business_days(
        acme: Tenant, smtp: Inbox, settings: Any) -> None:
    paying(acme, paid_until=at(2026, 12, 3))
    good_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 9  # nothing listens: the e-mail cannot go
    settings.BILLING_STAFF_EMAILS = ["billing-staff@plug2support.test"]
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):  # a Friday
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    assert invoice.emailed_at is None and invoice.delivery_attempts == 1
    assert invoice.delivery_error
    assert add_business_days(at(2026, 11, 20, 3), 2) == at(2026, 11, 24, 3)  # Tuesday
    with time_machine.travel(at(2026, 11, 24, 2), tick=False):
        assert run_deliveries(at(2026, 11, 24, 2))["staff_alerted"] == 0
    settings.EMAIL_PORT = good_port  # the server is back: the next hourly try delivers
    with time_machine.travel(at(2026, 11, 24, 4), tick=False):
        result = run_deliveries(at(2026, 11, 24, 4))
    assert result == {"delivered": 1, "failed": 0, "staff_alerted": 0}
    assert Invoice.objects.get().emailed_at is not None
    assert [m["To"] for m in smtp.messages] == [acme.owner.email]


def test_staff_are_alerted_once_when_delivery_keeps_failing(
        acme: Tenant, smtp: Inbox, settings: Any) -> None:
    paying(acme, paid_until=at(2026, 12, 3))
    settings.BILLING_STAFF_EMAILS = ["billing-staff@plug2support.test"]
    smtp.refuse = {acme.owner.email}  # the owner's address bounces at the server
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    for hour in (4, 5):
        with time_machine.travel(at(2026, 11, 24, hour), tick=False):
            run_deliveries(at(2026, 11, 24, hour))
    staff = [m for m in smtp.messages if m["To"] == "billing-staff@plug2support.test"]
    assert len(staff) == 1 and "not delivered" in staff[0]["Subject"]
    invoice = Invoice.objects.get()
    assert invoice.emailed_at is None and invoice.delivery_attempts == 3  # still retried
    assert "550" in invoice.delivery_error


# --- payments (H10) -------------------------------------------------------------------------

def test_paying_a_renewal_early_extends_from_the_end_of_the_paid_period(acme: Tenant) -> None:
    paying(acme, months=1, paid_until=at(2026, 12, 3, 14, 11))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    with time_machine.travel(at(2026, 11, 21, 8), tick=False):
        do_record_payment(invoice.pk, invoice.total, method=PaymentMethod.BANK_TRANSFER)
    assert subscription_of(acme.company.pk).paid_until == at(2027, 1, 3, 14, 11)


def test_paying_late_lifts_the_payment_block_at_once(acme: Tenant) -> None:
    paying(acme, months=1, paid_until=at(2026, 12, 3, 14, 11))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    with time_machine.travel(at(2026, 12, 5, 2, 1), tick=False):
        update_subscriptions(at(2026, 12, 5).date())
        assert communication_block(acme.company.pk) == "payment"
        do_record_payment(Invoice.objects.get().pk, "57.00", method=PaymentMethod.CARD,
                          external_id="pi_late")
        assert communication_block(acme.company.pk) is None
    # Renewed from where the old period ended, whatever the payment date.
    assert subscription_of(acme.company.pk).paid_until == at(2027, 1, 3, 14, 11)


@pytest.mark.parametrize(("invoice_id", "amount", "message"), [
    (999_999, "10.00", "No invoice has this number"),
    ("1", "10.00", "No invoice has this number"),
    (None, "-5", "more than zero"),
    (None, "0", "more than zero"),
    (None, "ten", "must be a number"),
    (None, "10.001", "whole cents"),
    (None, "NaN", "more than zero"),
])
def test_a_bad_payment_is_refused_with_a_clear_message_and_changes_nothing(
        acme: Tenant, invoice_id: Any, amount: str, message: str) -> None:
    paying(acme, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    with pytest.raises(PaymentError, match=message):
        do_record_payment(invoice.pk if invoice_id is None else invoice_id, amount,
                          method=PaymentMethod.BANK_TRANSFER)
    assert not Payment.objects.exists()
    assert Invoice.objects.get().amount_paid == 0


def test_staff_record_a_bank_transfer_in_the_back_office(acme: Tenant) -> None:
    from plug2support.accounts.models import User

    paying(acme, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    staff = User.objects.create_superuser(email="staff@plug2support.test", name="Staff",
                                          password="x" * 12)
    admin = staff_client(staff)
    refused = admin.post("/admin/billing/payment/add/", {
        "invoice": invoice.pk, "amount": "-3", "method": "bank_transfer"})
    assert refused.status_code == 200 and "more than zero" in refused.content.decode()
    assert not Payment.objects.exists()
    done = admin.post("/admin/billing/payment/add/", {
        "invoice": invoice.pk, "amount": "57.00", "method": "bank_transfer",
        "external_id": "BANK-2026-11-21-0042", "note": "P2S reference quoted"})
    assert done.status_code == 302
    payment = Payment.objects.get()
    assert payment.recorded_by == staff and payment.external_id == "BANK-2026-11-21-0042"
    assert Invoice.objects.get().status == InvoiceStatus.PAID


# --- Stripe ---------------------------------------------------------------------------------

def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at_time: int | None = None) -> str:
    """The Stripe-Signature header Stripe itself would send for this body."""
    stamp = int(time.time()) if at_time is None else at_time
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def session_event(event_id: str, invoice: Invoice | int, *, amount: int,
                  intent: str = "pi_1", kind: str = "checkout.session.completed",
                  status: str = "paid") -> bytes:
    invoice_id = invoice if isinstance(invoice, int) else invoice.pk
    return json.dumps({
        "id": event_id, "object": "event", "type": kind, "api_version": "2024-06-20",
        "data": {"object": {"id": f"cs_{event_id}", "object": "checkout.session",
                            "payment_status": status, "amount_total": amount,
                            "payment_intent": intent,
                            "metadata": {"invoice_id": str(invoice_id)}}}}).encode()


def post_webhook(client: Client, body: bytes, signature: str | None) -> Any:
    headers = {"Stripe-Signature": signature} if signature is not None else {}
    return client.post("/billing/stripe/webhook", body, content_type="application/json",
                       headers=headers)


def test_a_signed_stripe_webhook_pays_the_invoice_once(acme: Tenant, client: Client) -> None:
    paying(acme, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    body = session_event("evt_1", invoice, amount=5700)
    assert post_webhook(client, body, signed(body)).json() == {"result": "paid"}
    assert Invoice.objects.get().status == InvoiceStatus.PAID
    # The same event again (Stripe redelivers until it gets a 2xx): 200 "applied already",
    # and nothing changes.
    again = post_webhook(client, body, signed(body))
    assert again.status_code == 200 and again.json() == {"result": "applied already"}
    assert Payment.objects.count() == 1 and Invoice.objects.get().amount_paid == Decimal("57")
    # Another event about the same payment (async success after completed): counted once.
    later = session_event("evt_2", invoice, amount=5700,
                          kind="checkout.session.async_payment_succeeded")
    assert post_webhook(client, later, signed(later)).status_code == 200
    assert Payment.objects.count() == 1 and Invoice.objects.get().amount_paid == Decimal("57")
    assert StripeEvent.objects.count() == 2


def test_an_unpaid_session_then_its_success_in_either_order(acme: Tenant, client: Client) -> None:
    paying(acme, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    success = session_event("evt_b", invoice, amount=5700,
                            kind="checkout.session.async_payment_succeeded")
    pending = session_event("evt_a", invoice, amount=5700, status="unpaid")
    assert post_webhook(client, success, signed(success)).json() == {"result": "paid"}
    assert post_webhook(client, pending, signed(pending)).json() == {"result": "not paid yet"}
    assert Invoice.objects.get().status == InvoiceStatus.PAID and Payment.objects.count() == 1


@pytest.mark.parametrize("case", ["unsigned", "wrong secret", "stale", "tampered",
                                  "unknown invoice", "not json"])
def test_a_bad_webhook_gets_400_and_changes_nothing(acme: Tenant, client: Client,
                                                    case: str, caplog: Any) -> None:
    paying(acme, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    invoice = Invoice.objects.get()
    body = session_event("evt_bad", invoice if case != "unknown invoice" else 424242,
                         amount=5700)
    signature: str | None = signed(body)
    if case == "unsigned":
        signature = None
    elif case == "wrong secret":
        signature = signed(body, secret="whsec_someone_else")
    elif case == "stale":
        signature = signed(body, at_time=int(time.time()) - 3600)
    elif case == "tampered":
        body = body.replace(b"5700", b"9900")
    elif case == "not json":
        body = b"not json"
        signature = signed(body)
    response = post_webhook(client, body, signature)
    assert response.status_code == 400
    assert "Stripe webhook refused" in caplog.text
    assert not Payment.objects.exists() and not StripeEvent.objects.exists()
    assert Invoice.objects.get().status == InvoiceStatus.OPEN


def test_pay_by_card_opens_stripe_checkout_for_the_balance_of_ones_own_invoice(
        acme: Tenant, globex: Tenant, monkeypatch: Any) -> None:
    import stripe

    paying(acme, paid_until=at(2026, 12, 3))
    paying(globex, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    mine = Invoice.objects.get(company=acme.company)
    theirs = Invoice.objects.get(company=globex.company)
    do_record_payment(mine.pk, "20.00", method=PaymentMethod.BANK_TRANSFER)
    asked: list[dict[str, Any]] = []

    def create(**params: Any) -> Any:  # Stripe's API: the edge of the internet
        asked.append(params)
        return SimpleNamespace(id="cs_test_1", url="https://checkout.stripe.test/c/cs_test_1")

    monkeypatch.setattr(stripe.checkout.Session, "create", create)
    owner = logged_in_client(acme.owner)
    response = owner.post(f"/billing/invoices/{mine.pk}/pay")
    assert response.status_code == 302
    assert response["Location"] == "https://checkout.stripe.test/c/cs_test_1"
    [params] = asked
    assert params["line_items"][0]["price_data"]["unit_amount"] == 3700  # 57.00 − 20.00
    assert params["metadata"]["invoice_id"] == str(mine.pk)
    assert Invoice.objects.get(pk=mine.pk).stripe_session_id == "cs_test_1"
    assert owner.post(f"/billing/invoices/{theirs.pk}/pay").status_code == 404
    assert owner.get(f"/billing/invoices/{theirs.pk}.pdf").status_code == 404
    pdf = owner.get(f"/billing/invoices/{mine.pk}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert len(asked) == 1


def test_a_change_below_the_seats_in_use_is_refused_on_the_page(acme: Tenant) -> None:
    paying(acme, seats=3, paid_until=at(2027, 1, 3))
    owner = logged_in_client(acme.owner)
    page = owner.post("/billing/", {"plan": "startup", "seats": "2", "months": "1",
                                    "confirm": "1"}, follow=True)
    assert "choose at least 3 seats" in page.content.decode()
    assert not Invoice.objects.exists() and subscription_of(acme.company.pk).seats == 3
    with pytest.raises(billing.BillingError):
        billing.do_change_subscription(acme.company.pk, standard_plan(PlanKind.FREE), 1, 1)


def test_more_seats_mid_term_show_the_prorated_amount_then_apply_when_paid(
        acme: Tenant) -> None:
    paying(acme, seats=3, months=1, paid_until=at(2026, 5, 1))
    owner = logged_in_client(acme.owner)
    with time_machine.travel(at(2026, 4, 21, 12), tick=False):
        quote = owner.post("/billing/", {"plan": "startup", "seats": "5", "months": "1"})
        page = quote.content.decode()
        assert "12.67 EUR for the 10 of 30 days left, invoiced now" in page
        assert "New: 31.67 for 10 of 30 days, less the current 19.00." in page
        owner.post("/billing/", {"plan": "startup", "seats": "5", "months": "1",
                                 "confirm": "1"})
        again = owner.post("/billing/", {"plan": "startup", "seats": "6", "months": "1",
                                         "confirm": "1"}, follow=True)
        assert "for a change is still open: pay it first" in again.content.decode()
    invoice = Invoice.objects.get()
    assert (invoice.total, invoice.period_end) == (Decimal("12.67"), at(2026, 5, 1))
    assert [line["amount"] for line in invoice.lines] == ["31.67", "-19.00"]
    assert subscription_of(acme.company.pk).seats == 3  # until paid
    do_record_payment(invoice.pk, "12.67", method=PaymentMethod.CARD, external_id="pi_seats")
    subscription = subscription_of(acme.company.pk)
    assert subscription.seats == 5 and subscription.paid_until == at(2026, 5, 1)


def test_fewer_seats_mid_term_apply_now_and_the_difference_becomes_credit(
        acme: Tenant) -> None:
    from plug2support.accounts.models import Membership

    paying(acme, seats=5, months=1, paid_until=at(2026, 5, 1))
    owner = logged_in_client(acme.owner)
    with time_machine.travel(at(2026, 4, 21, 12), tick=False):
        page = owner.post("/billing/", {"plan": "startup", "seats": "3", "months": "1"})
        assert "12.67 EUR back as account credit for the 10 of 30 days left" in \
            page.content.decode()
        owner.post("/billing/", {"plan": "startup", "seats": "3", "months": "1",
                                 "confirm": "1"})
    subscription = subscription_of(acme.company.pk)
    assert (subscription.seats, subscription.credit) == (3, Decimal("12.67"))
    assert not Invoice.objects.exists()
    assert Membership.objects.filter(company=acme.company).count() == 3


def test_staff_sell_a_boost_and_put_a_company_on_a_custom_plan_in_the_back_office(
        acme: Tenant, globex: Tenant) -> None:
    from plug2support.accounts.models import User
    from plug2support.billing.models import Plan

    staff = User.objects.create_superuser(email="staff@plug2support.test", name="Staff",
                                          password="x" * 12)
    admin = staff_client(staff)
    subscription = subscription_of(acme.company.pk)
    url = f"/admin/billing/subscription/{subscription.pk}/change/"
    free = standard_plan(PlanKind.FREE)
    refused = admin.post(url, {"plan": free.pk, "seats": 3, "term_months": 1, "credit": "0"})
    assert refused.status_code == 200 and "Remove members first" in refused.content.decode()
    custom = Plan.objects.create(code="acme-deal", name="Acme deal", kind=PlanKind.CUSTOM,
                                 traffic_limit=5000, invited_users_limit=20,
                                 seat_price=Decimal("12.00"))
    done = admin.post(url, {"plan": custom.pk, "seats": 3, "term_months": 1, "credit": "0",
                            "add_boost": "300"})
    assert done.status_code == 302
    subscription.refresh_from_db()
    assert subscription.plan == custom and subscription.boost == 300
    other = subscription_of(globex.company.pk)
    assert other.boost == 0 and other.plan.kind == PlanKind.STARTUP


def test_the_same_event_delivered_twice_at_once_is_applied_once_and_both_get_2xx(
        transactional_db: Any, settings: Any) -> None:
    import threading

    from django.db import connection

    from plug2support.billing.payments import handle_stripe_webhook

    from .conftest import make_tenant

    acme = make_tenant("Acme")
    paying(acme, paid_until=at(2026, 12, 3))
    with time_machine.travel(at(2026, 11, 20, 3), tick=False):
        run_invoice_day(at(2026, 11, 20, 3))
    body = session_event("evt_twice", Invoice.objects.get(), amount=5700)
    barrier, results, errors = threading.Barrier(2), [], []

    def deliver() -> None:
        try:
            barrier.wait()
            results.append(handle_stripe_webhook(body, signed(body)))
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(results) == ["applied already", "paid"]
    assert Payment.objects.count() == 1 and StripeEvent.objects.count() == 1
    assert Invoice.objects.get().amount_paid == Decimal("57")
