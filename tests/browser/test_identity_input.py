"""Whatever the site passes to `Plug2Support.identify()`, the chat goes on (B6): a string
with a lone UTF-16 surrogate (a name sliced through an emoji) or a NUL still gives a hello
the server reads, a JS number as the user id is its decimal string, and the composer keeps
its layout while the chat is not connected."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.contacts.identity import expected_hash
from plug2support.contacts.models import Contact

from .conftest import login
from .test_identity_switch import write
from .test_live_chat import click_launcher

LIVE = "We reply as soon as we can"


def test_a_name_with_a_lone_surrogate_or_nul_still_chats_identified(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    login(browser, live, tenant.operators[0].email)
    widget = tenant.widget
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(site_url)
    page.wait_for_function("() => window.Plug2Support !== undefined")
    # "Zoë \ud83d" (an emoji sliced in half), a NUL, "!": seven UTF-16 units.
    odd = "'Zo\\u00eb \\ud83d\\ude00'.slice(0, 5) + '\\u0000!'"
    who = f"(h) => Plug2Support.identify({{user_id: 'zoe', user_hash: h, name: {odd}}})"
    assert page.evaluate(f"() => ({odd}).length") == 7
    page.evaluate(who, expected_hash(widget.secret, "zoe"))
    frame = click_launcher(page)
    expect(frame.locator("#status")).to_have_text(LIVE)
    write(frame, "Hello from Zoe")
    contact = Contact.objects.get(external_id="zoe")
    assert (contact.verified, contact.name) == (True, "Zo\u00eb \ufffd!")

    page.reload()  # and on every later page
    page.wait_for_function("() => window.Plug2Support !== undefined")
    page.evaluate(who, expected_hash(widget.secret, "zoe"))
    frame = click_launcher(page)
    expect(frame.locator("#status")).to_have_text(LIVE)
    expect(frame.locator(".msg.mine p")).to_have_text(["Hello from Zoe"])


def test_a_numeric_user_id_is_taken_as_its_decimal_string(browser: Browser, demo: Any,
                                                          live: str) -> None:
    tenant, site_url = demo
    login(browser, live, tenant.operators[0].email)
    widget = tenant.widget
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.goto(site_url)
    page.wait_for_function("() => window.Plug2Support !== undefined")
    page.evaluate("(h) => Plug2Support.identify({user_id: 42, user_hash: h})",
                  expected_hash(widget.secret, "42"))
    frame = click_launcher(page)
    expect(frame.locator("#status")).to_have_text(LIVE)
    write(frame, "I am user 42")
    contact = Contact.objects.get(
        visitor_links__visitor__conversations__events__body="I am user 42")
    assert (contact.external_id, contact.verified) == ("42", True)
    assert not [w for w in warnings if "Plug2Support identify" in w]


def test_the_composer_keeps_its_layout_while_the_chat_is_not_connected(
        browser: Browser, demo: Any, live: str) -> None:
    """Send stays beside the message box when the socket is refused (or reconnecting)."""
    tenant, site_url = demo
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    # The widget socket is answered by the test: closed at once, as a server refusing it.
    context.route_web_socket("**/ws/widget", lambda ws: ws.close(code=4401, reason="no"))
    page = context.new_page()
    page.goto(site_url)
    frame = click_launcher(page)
    expect(frame.locator("#status")).to_have_text("Chat unavailable")
    box = frame.locator("#body").bounding_box()
    send = frame.locator("#composer button[type=submit]").bounding_box()
    assert box is not None and send is not None
    assert send["x"] >= box["x"] + box["width"]  # on the same row, after the box
    assert send["y"] < box["y"] + box["height"] and box["y"] < send["y"] + send["height"]
