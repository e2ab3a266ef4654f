"""Two operators and one visitor in real browsers: Bob follows Alice's conversation, writes
a private note, asks to take over; Alice accepts; Bob replies. The visitor sees the hand-over
and Bob's reply, never the note (C3, C4)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from .conftest import login, screenshot
from .test_live_chat import open_widget


def test_follow_note_request_transfer_accept(browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    alice_op, bob_op = tenant.operators
    alice = login(browser, live, alice_op.email)
    bob = login(browser, live, bob_op.email)
    _visitor_page, frame = open_widget(browser, site_url)
    frame.fill("#body", "My order never arrived")
    frame.press("#body", "Enter")

    alice.locator(".conv", has_text="My order never arrived").click()
    alice.click("#claim")
    expect(alice.locator("#served")).to_have_text("Served by you")

    # Bob follows it live, read-only for replies.
    bob.locator(".conv", has_text="My order never arrived").click()
    expect(bob.locator("#served")).to_have_text(f"Served by {alice_op.name}")
    expect(bob.locator("#reply")).to_be_disabled()
    bob.check("input[name=mode][value=note]")
    bob.fill("#reply", "I handled this customer last week")
    bob.press("#reply", "Enter")
    expect(alice.locator(".msg.note p")).to_have_text("I handled this customer last week")

    bob.check("input[name=mode][value=message]")
    bob.click("#ask-transfer")
    expect(bob.locator("#withdraw-transfer")).to_be_visible()
    banner = alice.locator(".transfer")
    expect(banner).to_contain_text(f"{bob_op.name} asks to take over")
    screenshot(alice, "transfer-request")
    banner.get_by_role("button", name="Accept").click()
    expect(banner).to_have_count(0)
    expect(bob.locator("#served")).to_have_text("Served by you")
    expect(alice.locator("#served")).to_have_text(f"Served by {bob_op.name}")
    bob.fill("#reply", "Hi, Bob here: I'm on it")
    bob.press("#reply", "Enter")

    expect(frame.locator(".msg.theirs p").last).to_have_text("Hi, Bob here: I'm on it")
    expect(frame.locator(".system").last).to_contain_text(f"{bob_op.name} took over")
    assert "I handled this customer last week" not in frame.locator("#thread").inner_text()
    # History for the team: claim, request, acceptance.
    history = bob.locator("#thread").inner_text()
    assert "asked" in history and "took over" in history
