"""M11: the console on a phone (390×844 and 360×740), a tablet and a laptop, in Chromium.

One pane at a time below 768 px with a bottom bar; the phone's back walks the panes back
without reloading (the socket stays); the composer stays above the on-screen keyboard; tap
targets of at least 44 px; nothing wider than the screen. Screenshots in test-artifacts/."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from plug2support.conversations.models import Event, EventKind
from plug2support.notifications.actions import do_notify

from ..conftest import Tenant
from .conftest import login, screenshot
from .test_console_csp import a_conversation

# Counts the sockets a page opens: a reload or a second socket would show here.
COUNT_SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.__sockets = 0;
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets += 1; }
  };
})();"""

# The visible controls under `root` smaller than 44 × 44 px (a checkbox or radio counts by
# its label, which is what the finger hits; so does a file input, hidden in its label).
SMALL_TARGETS = """(root) => {
  const small = [];
  for (const el of document.querySelector(root).querySelectorAll(
      "button, select, textarea, summary, a.conv, .pane-nav button, #main-nav a, input")) {
    if (el.type === "hidden") continue;
    const labelled = ["checkbox", "radio", "file"].includes(el.type);
    const target = labelled ? (el.closest("label") || el) : el;
    const box = target.getBoundingClientRect();
    const style = getComputedStyle(target);
    if (box.width === 0 || box.height === 0 || style.visibility === "hidden") continue;
    if (box.right <= 0 || box.left >= innerWidth) continue;  // scrolled out of a sideways row
    if (box.height < 43.5 || box.width < 43.5) {
      const size = `${Math.round(box.width)}×${Math.round(box.height)}`;
      small.push(`${target.outerHTML.slice(0, 90)} ${size}`);
    }
  }
  return small;
}"""

FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


def phone(browser: Browser, live: str, tenant: Tenant, width: int, height: int) -> Page:
    page = login(browser, live, tenant.operators[0].email, width, height)
    page.add_init_script(COUNT_SOCKETS)
    page.goto(f"{live}/inbox/")
    page.wait_for_selector("#live.open")
    page.evaluate("() => { window.__sameDocument = true; }")
    return page


def pane(page: Page) -> Any:
    return page.evaluate("() => document.body.dataset.pane")


def test_the_inbox_shows_one_pane_at_a_time_and_back_keeps_the_socket(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    page = phone(browser, live, acme, 390, 844)
    # The list alone, the bottom bar, no top bar over the inbox.
    expect(page.locator("#conversations a.conv")).to_have_count(1)
    expect(page.locator(".inbox-list")).to_be_visible()
    expect(page.locator("#pane")).to_be_hidden()
    expect(page.locator("#side-panel")).to_be_hidden()
    expect(page.locator("#pane-nav")).to_be_visible()
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("#pane-nav [data-pane=conversation]")).to_be_disabled()
    screenshot(page, "phone-390-list")
    assert page.evaluate(FITS)
    assert page.evaluate(SMALL_TARGETS, ".inbox-list") == []

    page.click("#conversations a.conv")
    expect(page.locator("#thread")).to_contain_text("Hello")
    expect(page.locator(".inbox-list")).to_be_hidden()
    expect(page.locator("#pane-title")).to_be_focused()
    assert page.url.endswith(f"/inbox/{conversation.pk}/")
    assert pane(page) == "conversation"
    screenshot(page, "phone-390-conversation")
    assert page.evaluate(FITS)
    assert page.evaluate(SMALL_TARGETS, "#pane") == []

    page.click("#pane-nav [data-pane=side]")
    expect(page.locator("#side-panel")).to_be_visible()
    expect(page.locator("#side")).to_contain_text("Where")
    expect(page.locator("#pane")).to_be_hidden()
    screenshot(page, "phone-390-details")
    assert page.evaluate(FITS)
    assert page.evaluate(SMALL_TARGETS, "#side-panel") == []

    # The phone's back gesture is the history's back: details → conversation → list.
    page.go_back()
    expect(page.locator("#pane")).to_be_visible()
    expect(page.locator("#side-panel")).to_be_hidden()
    page.go_back()
    expect(page.locator(".inbox-list")).to_be_visible()
    assert page.url.endswith("/inbox/")
    # Forward again, and the pane's own back button.
    page.go_forward()
    expect(page.locator("#pane")).to_be_visible()
    page.click("#pane-back")
    expect(page.locator(".inbox-list")).to_be_visible()
    # Never reloaded, one socket all along, and it still works: a reply goes out.
    assert page.evaluate("() => [window.__sameDocument, window.__sockets]") == [True, 1]
    page.click("#conversations a.conv")
    page.fill("#reply", "Sent from a phone")
    page.keyboard.press("Enter")
    expect(page.locator("#thread")).to_contain_text("Sent from a phone")
    assert Event.objects.filter(conversation=conversation, kind=EventKind.MESSAGE,
                                body="Sent from a phone").count() == 1
    assert page.evaluate("() => window.__sockets") == 1


def test_a_conversation_opened_by_its_address_goes_back_to_the_list(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    page = login(browser, live, acme.operators[0].email, 390, 844)
    page.goto(f"{live}/inbox/{conversation.pk}/")  # a notification's link, say
    expect(page.locator("#thread")).to_contain_text("Hello")
    expect(page.locator(".inbox-list")).to_be_hidden()
    page.go_back()  # stays in the console, on the list
    expect(page.locator(".inbox-list")).to_be_visible()
    assert page.url.endswith("/inbox/")


def test_the_composer_stays_above_the_keyboard(browser: Browser, live: str,
                                              tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    a_conversation(acme)
    page = phone(browser, live, acme, 390, 844)
    page.click("#conversations a.conv")
    expect(page.locator("#thread")).to_contain_text("Hello")
    page.click("#reply")
    # The on-screen keyboard takes the lower 340 px: the page is resized to what is left
    # (Chrome's interactive-widget=resizes-content; Safari's visual viewport, panes.js).
    page.set_viewport_size({"width": 390, "height": 504})
    page.wait_for_function(
        "() => document.documentElement.style.getPropertyValue('--app-height') === '504px'")
    expect(page.locator("#pane-nav")).to_be_hidden()  # its room goes to the thread
    for selector in ("#reply", "#composer button[type=submit]", "#thread"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= 504, selector
    assert page.evaluate(FITS)
    screenshot(page, "phone-390-keyboard")
    page.keyboard.type("Typed over the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("#thread")).to_contain_text("Typed over the keyboard")


def test_at_360_nothing_is_cut_off_and_the_menu_is_a_drawer(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    a_conversation(acme)
    page = phone(browser, live, acme, 360, 740)
    assert page.evaluate(FITS)
    screenshot(page, "phone-360-list")
    page.click("#conversations a.conv")
    expect(page.locator("#thread")).to_contain_text("Hello")
    assert page.evaluate(FITS)
    assert page.evaluate(SMALL_TARGETS, "#pane") == []
    screenshot(page, "phone-360-conversation")
    page.click("#pane-nav [data-pane=side]")
    expect(page.locator("#side")).to_contain_text("Where")
    assert page.evaluate(FITS)
    screenshot(page, "phone-360-details")

    # A notification arrives: the menu, which holds the count, shows it on its button.
    menu = page.locator("#pane-nav [data-nav-toggle]")
    do_notify(company_id=acme.company.pk, user_ids=[acme.operators[0].pk], kind="mention",
              title="Acme Op1 mentioned you")
    expect(menu.locator(".count")).to_have_text("1")
    # The menu: a drawer over the page, its links big enough, closed by Escape.
    menu.click()
    expect(page.locator("#main-nav")).to_be_in_viewport(ratio=1)  # slid in whole
    expect(menu).to_have_attribute("aria-expanded", "true")
    assert page.evaluate(SMALL_TARGETS, "#main-nav") == []
    screenshot(page, "phone-360-menu")
    page.keyboard.press("Escape")
    expect(page.locator("#main-nav")).not_to_be_in_viewport()
    expect(menu).to_be_focused()

    # Every other page of the console: the top bar's menu, nothing wider than the screen.
    for path in ("/tickets/", "/visitors/", "/customers/", "/settings/saved-replies/", "/account/",
                 "/reports/",
                 "/settings/alerts/", "/settings/email/", "/articles/", "/notifications/",
                 "/team/"):
        page.goto(f"{live}{path}")
        expect(page.locator(".topbar")).to_be_visible()
        screenshot(page, "phone-360" + path.rstrip("/").replace("/", "-"))
        assert page.evaluate(FITS), path
        assert page.evaluate(SMALL_TARGETS, ".topbar") == []
    page.click(".topbar [data-nav-toggle]")
    page.click("#main-nav >> text=Inbox")
    page.wait_for_url(f"{live}/inbox/")


def test_a_tablet_shows_the_details_over_the_thread_and_a_laptop_beside_it(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    page = login(browser, live, acme.operators[0].email, 900, 1000)
    page.goto(f"{live}/inbox/{conversation.pk}/")
    expect(page.locator("#thread")).to_contain_text("Hello")
    expect(page.locator(".inbox-list")).to_be_visible()  # list and thread side by side
    expect(page.locator("#pane-nav")).to_be_hidden()
    expect(page.locator("#side-panel")).not_to_be_in_viewport()
    page.click("#show-side")
    expect(page.locator("#side-panel")).to_be_in_viewport(ratio=1)
    expect(page.locator("#show-side")).to_have_attribute("aria-expanded", "true")
    # The head keeps the name beside its actions; the back arrow is a phone's (the list is here).
    expect(page.locator("#pane-title")).to_be_visible()
    expect(page.locator("#pane-back")).to_be_hidden()
    screenshot(page, "tablet-900-details")
    page.keyboard.press("Escape")
    expect(page.locator("#side-panel")).not_to_be_in_viewport()

    page.set_viewport_size({"width": 1366, "height": 900})
    expect(page.locator("#side")).to_contain_text("Where")
    expect(page.locator("#side-panel")).to_be_in_viewport()
    expect(page.locator("#show-side")).to_be_hidden()
    expect(page.locator(".topbar")).to_be_hidden()
    side = page.locator("#side-panel").bounding_box()
    thread = page.locator("#thread").bounding_box()
    assert side is not None and thread is not None
    assert side["x"] >= thread["x"] + thread["width"] - 1
    screenshot(page, "laptop-1366-inbox")
