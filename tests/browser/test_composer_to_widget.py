"""The composer's help reaches the visitor (issue 18 point 2): an operator picks an emoji
from the picker and makes a word bold with the toolbar, and the visitor's widget shows both
rendered — the console's composer, the server's Markdown and the widget, end to end."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from .conftest import login, screenshot
from .test_live_chat import open_widget


def test_an_emoji_and_a_bold_word_reach_the_visitor_rendered(browser: Browser, demo: Any,
                                                             live: str) -> None:
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    visitor, frame = open_widget(browser, site_url)
    frame.fill("#body", "Is the red kettle back in stock?")
    frame.press("#body", "Enter")
    alice.locator(".conv", has_text="Is the red kettle back in stock?").click()
    alice.click("#claim")

    alice.fill("#reply", "Yes, today")
    # Select "today" and make it bold with the toolbar.
    alice.locator("#reply").evaluate("el => el.setSelectionRange(5, 10)")
    alice.click("[data-format=bold]")
    expect(alice.locator("#reply")).to_have_value("Yes, **today**")
    alice.locator("#reply").press("End")
    alice.keyboard.type(" ")
    alice.click("#emoji-toggle")
    alice.fill("#emoji-q", "tada")
    alice.locator("#emoji-grid [role=option]").first.click()
    expect(alice.locator("#reply")).to_have_value("Yes, **today** 🎉")
    alice.press("#reply", "Enter")

    reply = frame.locator(".msg.theirs .md").last
    expect(reply.locator("strong")).to_have_text("today")
    expect(reply).to_have_text("Yes, today 🎉")
    # "… is typing" ends with the message it announced, not seconds later.
    expect(frame.locator("#typing")).to_be_hidden(timeout=1000)
    expect(alice.locator("#thread .msg.mine .md strong").last).to_have_text("today")
    screenshot(visitor, "widget-emoji-bold")
