"""Presence in real browsers (C5, C6): when the last operator goes offline the widget turns
into the "leave a message" form, the message reaches the team live, and the live chat comes
back when an operator is online again."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from .conftest import login, screenshot
from .test_live_chat import click_launcher


def test_widget_switches_to_the_offline_form_and_back(browser: Browser, demo: Any,
                                                     live: str) -> None:
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    visitor = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    visitor.goto(site_url)
    frame = click_launcher(visitor)
    expect(frame.locator("#status")).to_have_text("We reply as soon as we can")
    expect(frame.locator("#composer")).to_be_visible()

    alice.select_option("#my-status", "offline")
    expect(frame.locator("#offline")).to_be_visible()
    expect(frame.locator("#composer")).to_be_hidden()
    expect(frame.locator("#status")).to_have_text("Nobody is available right now")
    expect(alice.locator("#team-online")).to_have_text("Widgets show the offline form")

    frame.fill("#offline-email", "not an address")
    frame.fill("#offline-body", "Hello?")
    frame.click("#offline button[type=submit]")
    expect(frame.locator("#error")).to_have_text("Give an e-mail address we can answer to.")
    frame.fill("#offline-email", "jane@example.com")
    frame.click("#offline button[type=submit]")
    expect(frame.locator("#offline-done")).to_have_text("Thanks! We'll reply to jane@example.com.")
    screenshot(visitor, "widget-offline-form")

    # The team hears of it live: a toast and the unread count, and it is in the inbox.
    expect(alice.locator(".toast")).to_contain_text("New message from jane@example.com")
    expect(alice.locator("#unread")).to_have_text("1")
    expect(alice.locator(".conv", has_text="Hello?")).to_be_visible()

    alice.select_option("#my-status", "online")
    expect(frame.locator("#composer")).to_be_visible()
    expect(frame.locator("#offline")).to_be_hidden()
    expect(frame.locator("#status")).to_have_text("We reply as soon as we can")
