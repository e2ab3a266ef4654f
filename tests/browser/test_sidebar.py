"""M8 in real browsers: a visitor on the demo site chats; the operator's sidebar shows the
generated name, the parsed browser, the time zone, and the visitor's next page live; an
operator names the person and every console shows the new name."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.conversations.models import Conversation
from plug2support.widgets.models import Visitor
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


def test_operator_names_the_person_in_the_sidebar_and_every_console_shows_it(
        browser: Browser, tenants: Any, live: str) -> None:
    acme, _globex = tenants
    visitor = Visitor.objects.create(widget=acme.widget, token_hash="b" * 64)
    conversation = Conversation.objects.create(company=acme.company, widget=acme.widget,
                                               visitor=visitor)
    alice = login(browser, live, acme.operators[0].email, width=1400)
    bob = login(browser, live, acme.operators[1].email, width=1400)
    for page in (alice, bob):
        page.goto(f"{live}/inbox/{conversation.pk}/")
        expect(page.locator("#pane-title")).to_have_text(generated_name(visitor.pk))
        expect(page.locator("#live")).to_have_text("live")
    side = alice.locator("#side")
    # No customer org is "none", not "not collected" (nothing was held back).
    expect(side.locator("dt:has-text('Customer org') + dd")).to_have_text("none")
    # Keyboard only: the button, the input, Escape closes and gives the focus back.
    edit = side.get_by_role("button", name="Edit name")
    edit.focus()
    alice.keyboard.press("Enter")
    name = side.get_by_label("Name", exact=True)
    expect(name).to_be_focused()
    alice.keyboard.press("Escape")
    expect(side.get_by_role("button", name="Edit name")).to_be_focused()
    # Too long is refused by the server with its message (the input's maxlength aside).
    side.get_by_role("button", name="Edit name").click()
    name.evaluate("input => input.removeAttribute('maxlength')")
    name.fill("x" * 151)
    side.get_by_role("button", name="Save").click()
    expect(side.get_by_role("alert")).to_contain_text("at most 150")
    expect(name).to_have_attribute("aria-invalid", "true")
    side.screenshot(path=str(ARTIFACTS / "sidebar-name-refused.png"))
    name.fill("  Ada <b>Lovelace</b> ")
    alice.keyboard.press("Enter")
    expect(side.locator("#side-name-text")).to_have_text("Ada <b>Lovelace</b>")  # text, escaped
    expect(alice.locator("#pane-title")).to_have_text("Ada <b>Lovelace</b>")
    # Bob's console: the title, the list and the sidebar, live (the `conversation` frame).
    expect(bob.locator("#pane-title")).to_have_text("Ada <b>Lovelace</b>")
    expect(bob.locator("#side-name-text")).to_have_text("Ada <b>Lovelace</b>")
    expect(bob.locator("#side b")).to_have_count(0)
    screenshot(alice, "sidebar-named")
    side.screenshot(path=str(ARTIFACTS / "sidebar-named-side.png"))
