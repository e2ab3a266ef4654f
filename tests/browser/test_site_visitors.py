"""Operator-started chat in real browsers (C7): a visitor browses the demo site without
opening the chat; an operator sees them on the Visitors page and starts a chat; the
visitor's widget opens by itself with the operator's message, and the visitor answers."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from .conftest import login, screenshot, widget_frame


def test_operator_starts_a_chat_with_a_visitor_on_the_site(browser: Browser, demo: Any,
                                                          live: str, settings: Any) -> None:
    settings.SITE_HEARTBEAT_SECONDS = 1
    tenant, site_url = demo
    visitor = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    visitor.goto(site_url)
    alice = login(browser, live, tenant.operators[0].email)
    alice.goto(f"{live}/visitors/")
    row = alice.locator("table.visitors tbody tr").first
    expect(row).to_contain_text("Maple Coffee Roasters")
    expect(row).to_contain_text("New")
    screenshot(alice, "visitors-page")
    row.locator("input[name=body]").fill("Hi! Looking for a grinder?")
    row.get_by_role("button", name="Start chat").click()
    alice.wait_for_url(f"{live}/inbox/*/")
    expect(alice.locator("#served")).to_have_text("Served by you")

    frame = widget_frame(visitor)  # opened by itself on the next heartbeat
    expect(frame.locator(".msg.theirs p")).to_have_text("Hi! Looking for a grinder?")
    frame.fill("#body", "Yes, a burr grinder")
    frame.press("#body", "Enter")
    expect(alice.locator("#thread .msg.theirs p")).to_have_text("Yes, a burr grinder")
