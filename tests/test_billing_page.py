"""Issue 15.15 (billing page): after confirming a plan the page shows the change waiting for
its invoice and how to pay it, "Change plan" starts from the plan the company is on, and the
demo company's year of Startup is a real, paid invoice."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from plug2support.billing.access import standard_plan, subscription_of
from plug2support.billing.models import Invoice, InvoiceKind, InvoiceStatus, PlanKind, Subscription
from plug2support.ops.demo import load_demo

from .conftest import Tenant, logged_in_client


def checked_plan(page: str) -> list[str]:
    return re.findall(r'<input type="radio" name="plan" value="(\w+)"\s+checked', page)


def on_free(tenant: Tenant) -> None:
    Subscription.objects.filter(company=tenant.company).update(
        plan=standard_plan(PlanKind.FREE), paid_until=None)


def test_change_plan_starts_from_the_plan_the_company_is_on(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    on_free(acme)
    assert checked_plan(owner.get("/billing/").content.decode()) == ["free"]
    Subscription.objects.filter(company=acme.company).update(
        plan=standard_plan(PlanKind.STARTUP))
    assert checked_plan(owner.get("/billing/").content.decode()) == ["startup"]
    # A choice made on the page is kept when it is shown again (the quote).
    page = owner.post("/billing/", {"plan": "free", "seats": "1", "months": "1"})
    assert checked_plan(page.content.decode()) == ["free"]


def test_choosing_free_when_on_free_says_so_and_changes_nothing(acme: Tenant) -> None:
    on_free(acme)
    owner = logged_in_client(acme.owner)
    page = owner.post("/billing/", {"plan": "free", "seats": "1", "months": "1",
                                    "confirm": "1"}, follow=True).content.decode()
    assert "already on the Free plan" in page
    assert subscription_of(acme.company.pk).plan.kind == PlanKind.FREE


@pytest.mark.parametrize("cards", [False, True])
def test_after_confirming_a_plan_the_page_shows_the_pending_change_and_how_to_pay(
        acme: Tenant, globex: Tenant, settings: Any, cards: bool) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_not_a_real_key" if cards else ""
    on_free(acme)
    on_free(globex)
    owner = logged_in_client(acme.owner)
    with time_machine.travel(datetime(2026, 4, 10, 9, tzinfo=UTC), tick=False):
        owner.post("/billing/", {"plan": "startup", "seats": "3", "months": "3",
                                 "confirm": "1"})
        page = owner.get("/billing/").content.decode()
    invoice = Invoice.objects.get()
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    # Still on Free until paid — and the page says what is waiting.
    assert "Plan Free" in text
    assert (f"Startup, 3 seats for 3 months: starts when invoice {invoice.display_number} "
            "(162.45 EUR) is paid") in text
    # One change at a time: no form that would be refused, but what to do instead.
    assert "See the price" not in page
    assert f"pay invoice {invoice.display_number} first" in text
    # The ways to pay, each a whole sentence; no "Or" without a first option.
    assert "Or by bank transfer" not in text
    assert (f"Pay by bank transfer to Plug2Support, IBAN XX00 0000 0000 0000 0000 00, BIC "
            f"XXXXXXXX, quoting the reference {invoice.reference}") in text
    assert ("Pay 162.45 EUR by card" in text) is cards
    # The other company sees nothing of it.
    other = logged_in_client(globex.owner).get("/billing/").content.decode()
    assert invoice.reference not in other and "starts when invoice" not in other
    assert checked_plan(other) == ["free"]


def test_the_demo_company_has_a_real_paid_invoice_for_its_year_of_startup(db: Any) -> None:
    demo = load_demo()
    load_demo()  # idempotent: still one invoice
    [invoice] = Invoice.objects.filter(company=demo.company)
    subscription = subscription_of(demo.company.pk)
    assert (invoice.kind, invoice.status, invoice.term_months) == (
        InvoiceKind.CHANGE, InvoiceStatus.PAID, 12)
    assert invoice.amount_paid == invoice.total > 0 and invoice.payments.count() == 1
    assert (subscription.plan.kind, subscription.seats, subscription.term_months) == (
        PlanKind.STARTUP, 3, 12)
    assert subscription.paid_until == invoice.period_end
    owner = logged_in_client(demo.users[0])
    page = " ".join(re.sub(r"<[^>]+>", " ", owner.get("/billing/").content.decode()).split())
    assert f"{invoice.display_number} " in page and "Paid" in page
    assert "Pay by bank transfer" not in page  # nothing left to pay
