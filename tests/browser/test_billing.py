"""Billing in a real browser: the owner reads the traffic balance (orange above 90 %), gets a
quote and an invoice for Startup; a blocked company's widget says the chat is unavailable,
and comes back live the moment a boost lifts the block."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from playwright.sync_api import Browser, expect

from plug2support.billing import actions as billing
from plug2support.billing.access import standard_plan
from plug2support.billing.models import Invoice, Plan, PlanKind, Subscription
from plug2support.billing.periods import period_at
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import do_identify_visitor

from .conftest import ARTIFACTS, login, screenshot
from .test_accessibility import violations
from .test_live_chat import click_launcher


def test_the_owner_sees_the_balance_gets_a_quote_and_an_invoice(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, _ = demo
    plan = Plan.objects.create(code="maple-small", name="Small", kind=PlanKind.CUSTOM,
                               traffic_limit=20, invited_users_limit=5)
    Subscription.objects.filter(company=tenant.company).update(plan=plan)
    for _ in range(19):  # 95 %
        visitor, _ = do_identify_visitor(tenant.widget, None)
        do_post_visitor_message(visitor, client_id="x", body="Hello")
    page = login(browser, live, tenant.owner.email)
    page.goto(f"{live}/billing/")
    expect(page.locator("#balance")).to_have_class("balance orange")
    expect(page.locator(".balance-value")).to_have_text("19")
    expect(page.locator(".chart rect")).to_have_count(1)
    screenshot(page, "billing-balance")

    # Back on a self-serve plan: Startup for 3 seats, a quarter.
    Subscription.objects.filter(company=tenant.company).update(
        plan=standard_plan(PlanKind.FREE))
    page.goto(f"{live}/billing/")
    expect(page.locator("input[name=plan][value=free]")).to_be_checked()  # the plan it is on
    page.check("input[name=plan][value=startup]")
    page.fill("#seats", "3")
    page.select_option("#months", "3")
    page.click("text=See the price")
    expect(page.locator("#quote")).to_contain_text("162.45 EUR, invoiced now")
    page.click("#quote button")
    expect(page.locator(".flash")).to_contain_text("is ready: 162.45 EUR")
    invoice = Invoice.objects.get(company=tenant.company)
    # Still on Free until paid, and the page says what waits for which invoice, and how to
    # pay it (no card payments set up here: the bank transfer is the one way, said so).
    expect(page.locator("#pending-change")).to_contain_text(
        f"Startup, 3 seats for 3 months: starts when invoice {invoice.display_number}")
    expect(page.locator(".bank-row")).to_contain_text(
        f"Pay by bank transfer to Plug2Support, IBAN XX00 0000 0000 0000 0000 00, BIC XXXXXXXX, "
        f"quoting the reference {invoice.reference}")
    expect(page.locator(".bank-row")).not_to_contain_text("Or by")
    expect(page.locator(".plan-form")).to_have_count(0)  # one change at a time
    assert violations(page) == []  # axe-core, WCAG 2.1 AA, with the change waiting
    screenshot(page, "billing-invoice")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(page, "billing-phone")
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow  # the invoices stack (test_the_invoices_read_on_a_phone_…)


def test_a_blocked_widget_says_unavailable_and_comes_back_when_the_block_lifts(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    plan = Plan.objects.create(code="maple-tiny", name="Tiny", kind=PlanKind.CUSTOM,
                               traffic_limit=1, invited_users_limit=5)
    subscription = Subscription.objects.get(company=tenant.company)
    start, _ = period_at(subscription.anchor, timezone.now())
    # What the daily update leaves when the counter has been over the limit for a day.
    Subscription.objects.filter(pk=subscription.pk).update(
        plan=plan, period_start=start, traffic=2, traffic_blocked_period=start)
    operator = login(browser, live, tenant.operators[0].email)  # someone online: it would be live
    # The inbox says so too, instead of "Widgets are live".
    expect(operator.locator("#team-online")).to_have_text(
        "Chat is paused: the plan's traffic limit is reached (see Billing)")
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(site_url)
    frame = click_launcher(page)
    expect(frame.locator("#status")).to_have_text("Chat is unavailable at the moment")
    expect(frame.locator("#composer")).to_be_hidden()
    expect(frame.locator("#offline")).to_be_hidden()
    expect(frame.locator("#unavailable")).to_be_visible()
    screenshot(page, "widget-unavailable")

    billing.do_add_boost(tenant.company.pk, 10)  # support sells a boost: lifted at once
    expect(frame.locator("#status")).to_have_text("We reply as soon as we can")
    expect(frame.locator("#composer")).to_be_visible()
    expect(frame.locator("#unavailable")).to_be_hidden()
    expect(operator.locator("#team-online")).to_have_text("Widgets are live")


# Each element of the invoices card, and whether it lies inside the card and shows all its
# content: nothing clipped, nothing to scroll sideways for.
CLIPPED_IN_CARD = """(card) => {
  const box = card.getBoundingClientRect();
  const wrap = card.querySelector('.table-wrap');
  const found = [];
  if (wrap.scrollWidth > wrap.clientWidth) {
    found.push(`the table scrolls sideways: ${wrap.scrollWidth} > ${wrap.clientWidth}`);
  }
  for (const el of card.querySelectorAll('td, td > *, th')) {
    const r = el.getBoundingClientRect();
    const head = el.closest('thead');
    // Not shown at this width, or there for screen readers only.
    if (!r.width || (head && getComputedStyle(head).position === 'absolute')) continue;
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5) {
      const what = el.textContent.trim().slice(0, 40);
      found.push(`${el.tagName} "${what}" ${r.left}-${r.right} outside ${box.left}-${box.right}`);
    }
  }
  return found;
}"""


def test_the_invoices_read_on_a_phone_without_scrolling_sideways(
        browser: Browser, live: str, settings: Any) -> None:
    from plug2support.billing.models import PaymentMethod
    from plug2support.billing.payments import do_record_payment

    from ..conftest import make_tenant

    settings.STRIPE_SECRET_KEY = "sk_test_not_a_real_key"  # the widest row: a card button too
    tenant = make_tenant("Maple")
    Subscription.objects.filter(company=tenant.company).update(
        plan=standard_plan(PlanKind.FREE), paid_until=None)
    _, paid = billing.do_change_subscription(tenant.company.pk, standard_plan(PlanKind.STARTUP),
                                             3, 12)
    assert paid is not None
    do_record_payment(paid.pk, paid.total, method=PaymentMethod.BANK_TRANSFER)
    _, open_ = billing.do_change_subscription(tenant.company.pk,
                                              standard_plan(PlanKind.STARTUP), 5, 12)
    assert open_ is not None and open_.status == "open"
    page = login(browser, live, tenant.owner.email)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live}/billing/")
    card = page.locator(".invoices")
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(ARTIFACTS / "billing-invoices-phone.png"))
    assert card.evaluate(CLIPPED_IN_CARD) == []
    # Every column's value is on screen with what it is, and the bank line whole.
    for label in ("Number", "Issued", "Period", "Total", "Paid", "Status"):
        expect(card.get_by_text(label, exact=True).first).to_be_visible()
    expect(card.locator(".bank-row")).to_contain_text(
        f"IBAN XX00 0000 0000 0000 0000 00, BIC XXXXXXXX, quoting the reference "
        f"{open_.reference}")
    expect(card.get_by_role("link", name="PDF")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert violations(page) == []
    # Wide screens keep the table.
    page.set_viewport_size({"width": 1366, "height": 900})
    card.screenshot(path=str(ARTIFACTS / "billing-invoices-wide.png"))
    assert card.evaluate(CLIPPED_IN_CARD) == []
    expect(card.locator("thead th").first).to_be_visible()
