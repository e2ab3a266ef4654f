"""The core loop in a real browser: a visitor on the customer's site (another origin) writes
in the widget; an operator sees it arrive live, claims, replies; the visitor sees the reply
live; a second operator sees "served by"."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from .conftest import login, screenshot, widget_frame

LAUNCHER = (1280 - 20 - 28, 800 - 20 - 28)  # the launcher's centre, bottom-right


def click_launcher(page: Any) -> Any:
    page.wait_for_function("() => document.querySelector('[data-plug2support]') !== null")
    page.mouse.click(*LAUNCHER)  # the launcher lives in a closed shadow root
    return widget_frame(page)


def open_widget(browser: Browser, site_url: str) -> tuple[Any, Any]:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(site_url)
    frame = click_launcher(page)
    frame.wait_for_selector("#status:text('We reply as soon as we can')")
    return page, frame


def test_visitor_and_operator_chat_live_and_a_second_operator_sees_served_by(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    alice_page = login(browser, live, tenant.operators[0].email)
    expect(alice_page.locator("#live")).to_have_text("live")

    visitor_page, frame = open_widget(browser, site_url)
    frame.fill("#body", "Hi, is the espresso blend in stock?")
    frame.press("#body", "Enter")
    expect(frame.locator(".msg.mine p")).to_have_text("Hi, is the espresso blend in stock?")

    # It arrives live in Alice's inbox, without a reload.
    item = alice_page.locator(".conv", has_text="Hi, is the espresso blend in stock?")
    expect(item).to_be_visible()
    expect(item.locator(".badge")).to_have_text("Waiting")
    item.click()
    alice_page.click("#claim")
    expect(alice_page.locator("#served")).to_have_text("Served by you")
    alice_page.fill("#reply", "Yes! 250 g and 1 kg bags.")
    alice_page.press("#reply", "Enter")

    # The visitor sees the operator join and the reply live.
    expect(frame.locator(".msg.theirs p")).to_have_text("Yes! 250 g and 1 kg bags.")
    expect(frame.locator(".system")).to_contain_text(tenant.operators[0].name)
    screenshot(visitor_page, "widget-open")
    screenshot(alice_page, "inbox-served")

    # A second operator sees who serves the visitor, and cannot reply.
    bob_page = login(browser, live, tenant.operators[1].email)
    bob_item = bob_page.locator(".conv", has_text="Yes! 250 g and 1 kg bags.")
    expect(bob_item.locator(".badge")).to_have_text(f"Served by {tenant.operators[0].name}")
    bob_item.click()
    expect(bob_page.locator("#served")).to_have_text(f"Served by {tenant.operators[0].name}")
    expect(bob_page.locator("#reply")).to_be_disabled()
    expect(bob_page.locator("#claim")).to_be_hidden()

    # The visitor keeps the conversation across a reload.
    visitor_page.reload()
    frame = click_launcher(visitor_page)
    expect(frame.locator(".msg.theirs p")).to_have_text("Yes! 250 g and 1 kg bags.")


def test_html_from_a_visitor_is_shown_as_text_and_never_runs(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    payload = '<img src=x onerror="window.__pwned=1"><b>bold</b>'
    alice_page = login(browser, live, tenant.operators[0].email)
    expect(alice_page.locator("#live")).to_have_text("live")
    _page, frame = open_widget(browser, site_url)
    frame.fill("#body", payload)
    frame.press("#body", "Enter")
    item = alice_page.locator(".conv", has_text="<b>bold</b>")
    expect(item).to_be_visible()
    item.click()
    expect(alice_page.locator("#thread .msg p")).to_have_text(payload)
    assert alice_page.evaluate("() => window.__pwned") is None
    assert alice_page.locator("#thread img").count() == 0
    assert frame.evaluate("() => window.__pwned") is None


def test_the_widget_stays_out_of_a_site_it_does_not_allow(
        browser: Browser, demo: Any, live: str) -> None:
    """The same snippet on an origin the company did not list: nothing is shown."""
    tenant, _site_url = demo
    from plug2support.ops.demo_site import start_demo_site
    from plug2support.widgets.views import snippet_for

    from ..conftest import free_port

    port = free_port()
    other = start_demo_site("127.0.0.1", port, snippet_for(tenant.widget))
    try:
        page = browser.new_page()
        responses = []
        page.on("response", lambda r: responses.append(r) if "/config" in r.url else None)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => window.Plug2Support !== undefined")
        page.wait_for_load_state("networkidle")
        assert [r.status for r in responses] == [403]
        assert page.evaluate("() => document.querySelector('[data-plug2support]')") is None
    finally:
        other.shutdown()


HOSTILE_PAGE = """<!doctype html><html><head><style>
  * { all: unset; box-sizing: content-box !important; }
  html, body { display: block; background: rgb(1, 2, 3); color: rgb(4, 5, 6); }
  div, button, iframe { display: none !important; transform: rotate(45deg) !important; }
  iframe { width: 1px !important; height: 1px !important; }
</style></head><body><p id="own">The host's own text</p>
<script>window.hostValue = 42; window.keysBefore = Object.keys(window);</script>
{snippet}</body></html>"""


def test_a_hostile_host_page_neither_breaks_the_widget_nor_is_restyled_by_it(
        browser: Browser, live: str, transactional_db: Any) -> None:
    """Aggressive global CSS on the host page does not reach the launcher or the frame, and
    the loader leaves the host's styles and globals as they were (B2)."""
    from plug2support.ops.demo_site import start_demo_site
    from plug2support.widgets.views import snippet_for

    from ..conftest import free_port, make_tenant

    tenant = make_tenant("Hostile")
    operator = login(browser, live, tenant.operators[0].email)
    expect(operator.locator("#live")).to_have_text("live")
    port = free_port()
    snippet = snippet_for(tenant.widget)
    page_html = HOSTILE_PAGE.replace("{snippet}", snippet).encode()
    site = start_demo_site("127.0.0.1", port, snippet, page=page_html)
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        frame = click_launcher(page)
        expect(frame.locator("#status")).to_have_text("We reply as soon as we can")
        frame.fill("#body", "Still works")
        frame.press("#body", "Enter")
        expect(frame.locator(".msg.mine p")).to_have_text("Still works")
        styles = page.evaluate("""() => ({
            bg: getComputedStyle(document.body).backgroundColor,
            color: getComputedStyle(document.getElementById('own')).color,
            host: window.hostValue,
            added: Object.keys(window)
                .filter((k) => !window.keysBefore.includes(k) && k !== "keysBefore"),
        })""")
        assert styles == {"bg": "rgb(1, 2, 3)", "color": "rgb(4, 5, 6)", "host": 42,
                          "added": ["Plug2Support"]}
    finally:
        site.shutdown()


def test_the_pages_message_event_fires_for_new_messages_only(
        browser: Browser, demo: Any, live: str) -> None:
    """B6's JS API: Plug2Support.on("message") hears operators' new messages, not the
    history replayed when the chat opens again after a reload."""
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    page, frame = open_widget(browser, site_url)
    page.evaluate("() => { window.heard = []; "
                  "Plug2Support.on('message', (m) => window.heard.push(m.body)); }")
    frame.fill("#body", "Hello?")
    frame.press("#body", "Enter")
    alice.locator(".conv", has_text="Hello?").click()
    alice.fill("#reply", "Hi there")
    alice.press("#reply", "Enter")
    page.wait_for_function("() => window.heard.length === 1")
    assert page.evaluate("() => window.heard") == ["Hi there"]
    page.reload()
    page.evaluate("() => { window.heard = []; "
                  "Plug2Support.on('message', (m) => window.heard.push(m.body)); }")
    frame = click_launcher(page)
    expect(frame.locator(".msg.theirs p")).to_have_text("Hi there")
    alice.fill("#reply", "Still here")
    alice.press("#reply", "Enter")
    page.wait_for_function("() => window.heard.length === 1")
    assert page.evaluate("() => window.heard") == ["Still here"]
