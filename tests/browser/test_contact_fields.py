"""M9 in the console: contact_fields.js draws a contact's attributes and notes into the
sidebar's sections when `sidebar:rendered` fires (here dispatched by the test on sections it
makes, until the real sidebar is merged), saves an operator's value, refuses a wrong one
with the attribute's name, and adds a note; and the inbox filters on an attribute."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from plug2support.contacts import actions
from plug2support.contacts.attributes import do_define_attribute
from plug2support.contacts.models import AttributeValue, Note

from ..conftest import Tenant
from ..test_contacts import signed, visitor_of
from .conftest import login, screenshot

DISPATCH = """(ids) => {
  const root = document.createElement("aside");
  root.id = "test-side";
  root.innerHTML = '<section data-part="attributes"></section>'
    + '<section data-part="notes"></section>';
  document.body.append(root);
  document.dispatchEvent(new CustomEvent("sidebar:rendered", {detail: {root,
    data: {who: {contact: {id: ids[0]}, org: null}}}}));
}"""


def test_attributes_and_notes_in_the_sidebar_sections(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    owner = acme.membership(acme.owner)
    do_define_attribute(owner, "seats", "Seats", "number")
    do_define_attribute(owner, "plan", "Plan", "list", "free\npro")
    contact = actions.do_identify(visitor_of(acme), **signed(acme.widget, "u1"))
    page = login(browser, live, acme.operators[0].email)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.evaluate(DISPATCH, [contact.pk])
    side = page.locator("#test-side")
    seats = side.locator("#attr-seats")
    expect(seats).to_be_visible()
    seats.fill("many")
    seats.dispatch_event("change")
    expect(side.locator("[role=alert]").first).to_contain_text("Seats (seats) is a number")
    side.locator("#attr-seats").fill("12")
    side.locator("#attr-seats").dispatch_event("change")
    expect(side.locator("#attr-seats")).to_have_value("12")
    expect(side.locator("[data-part=attributes] [role=alert]")).to_be_hidden()
    with page.expect_response(lambda r: r.url.endswith("/attributes")):
        side.locator("#attr-plan").select_option("pro")
    expect(side.locator("#attr-plan")).to_have_value("pro")
    side.locator("#note-contacts").fill("Prefers e-mail")
    side.get_by_role("button", name="Add note").click()
    expect(side.locator(".note")).to_contain_text("Prefers e-mail")
    screenshot(page, "contact_fields")
    assert {v.definition.key: v.text for v in AttributeValue.objects.filter(
        contact=contact).select_related("definition")} == {"seats": "12", "plan": "pro"}
    assert Note.objects.get().body == "Prefers e-mail"
    side.get_by_role("button", name="Delete").click()
    expect(side.locator(".note")).to_have_count(0)
    assert errors == []


def test_a_refused_attribute_filter_says_why_and_lists_nothing(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    do_define_attribute(acme.membership(acme.owner), "tier", "Tier", "text")
    from ..test_reports import MON, chat
    chat(acme, MON, "filtered")
    page = login(browser, live, acme.operators[0].email)
    rows = page.locator("#conversations .conv")
    expect(rows).to_have_count(1)
    page.fill("#f-attr", "bad key:x")
    expect(page.locator("#filter-error")).to_be_visible()
    expect(page.locator("#filter-error")).not_to_be_empty()
    expect(page.locator("#f-attr")).to_have_attribute("aria-invalid", "")
    expect(rows).to_have_count(0)  # not the previous answer, which would read as a match
    screenshot(page, "attribute-filter-refused")
    page.fill("#f-attr", "")
    expect(page.locator("#filter-error")).to_be_hidden()
    expect(rows).to_have_count(1)
