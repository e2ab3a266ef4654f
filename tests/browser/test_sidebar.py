"""M8 in real browsers: a visitor on the demo site chats; the operator's sidebar shows the
generated name, the parsed browser, the time zone, and the visitor's next page live."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.conversations.models import Conversation
from plug2support.widgets.names import generated_name

from .conftest import ARTIFACTS, login, screenshot, widget_frame


def test_sidebar_shows_the_visitor_and_their_page_live(browser: Browser, demo: Any,
                                                        live: str, settings: Any) -> None:
    settings.SITE_HEARTBEAT_SECONDS = 1
    tenant, site_url = demo
    visitor = browser.new_context(viewport={"width": 1280, "height": 800},
                                  timezone_id="Asia/Tokyo").new_page()
    visitor.goto(site_url)
    alice = login(browser, live, tenant.operators[0].email, width=1400)
    alice.goto(f"{live}/visitors/")
    row = alice.locator("table.visitors tbody tr").first
    row.locator("input[name=body]").fill("Hi! Looking for a grinder?")
    row.get_by_role("button", name="Start chat").click()
    alice.wait_for_url(f"{live}/inbox/*/")
    frame = widget_frame(visitor)
    expect(frame.locator(".msg.theirs p")).to_have_text("Hi! Looking for a grinder?")
    conversation = Conversation.objects.latest("pk")
    alice.reload()  # the hello has now told the server the browser's details
    side = alice.locator("#side")
    expect(side).to_contain_text(generated_name(conversation.visitor_id))
    expect(side).to_contain_text("Asia/Tokyo")
    expect(side).to_contain_text("Chrom")
    visitor.goto(f"{site_url}/pricing")
    expect(alice.locator("#side-current")).to_contain_text("/pricing")
    expect(alice.locator("#side-pages li")).to_have_count(2)
    screenshot(alice, "sidebar-live")
    side.screenshot(path=str(ARTIFACTS / "sidebar-side.png"))
