"""Issue 4 in real browsers: a visitor's message matches a routing rule and the routed
operator sees it assigned to them; they put it on Hold with a ticket; closing the ticket in
the tracker brings the conversation back to Needs response, live."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.conversations.models import RoutingRule

from .conftest import login, screenshot
from .test_live_chat import open_widget


def test_routed_then_held_then_released(browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    bob = tenant.operators[1]
    RoutingRule.objects.create(company=tenant.company, name="Refunds", keywords="refund",
                               target_user=bob)
    page = login(browser, live, bob.email)
    expect(page.locator("#live")).to_have_text("live")
    _visitor, frame = open_widget(browser, site_url)
    frame.fill("#body", "I would like a refund for order 42")
    frame.press("#body", "Enter")

    item = page.locator(".conv", has_text="refund for order 42")
    expect(item.locator(".badge")).to_have_text("Served by you")
    item.click()
    page.fill("#reply", "Sure, let me check with billing.")
    page.press("#reply", "Enter")
    expect(page.locator("#stage")).to_have_value("waiting_on_user")

    page.fill("#ticket-title", "Refund order 42")
    page.click("#ticket-form button[type=submit]")
    expect(page.locator("#work-list")).to_contain_text("Refund order 42")
    page.locator("#hold-tickets input").first.check()
    page.click("#hold-form button[type=submit]")
    expect(page.locator("#stage")).to_have_value("hold")
    expect(page.locator("#work-list")).to_contain_text("Waits for #")
    screenshot(page, "on-hold")

    tracker = page.context.new_page()
    tracker.goto(f"{live}/tickets/?tracker=active")
    row = tracker.locator("tr", has_text="Refund order 42")
    row.locator("select").select_option("done")
    row.get_by_role("button", name="Save").click()
    expect(tracker.locator(".flash")).to_contain_text("is now Done")

    expect(page.locator("#stage")).to_have_value("needs_response")
    expect(page.locator(".conv.active .reply-now")).to_be_visible()
    expect(page.locator(".toast", has_text="needs a response")).to_be_visible()
