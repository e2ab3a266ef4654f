"""Review 19: pages that fit their screen. The team's Remove buttons are clickable at a
laptop's, a tablet's and a phone's width; a 150-character unbroken name wraps on the Customers
page; a phone's conversation head keeps its actions on the screen and the name on one line;
the console's light pages' link buttons are WCAG AA; the phone's menu and bottom bar read
right. Screenshots in test-artifacts/."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from plug2support.contacts import actions
from plug2support.contacts.attributes import do_define_attribute
from plug2support.contacts.models import Contact

from ..conftest import Tenant
from ..test_contacts import signed
from .conftest import login, screenshot
from .test_console_csp import a_conversation

FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"
LONG = "A" * 150

# The contrast ratio (WCAG 2) of an element's text colour on white.
CONTRAST_ON_WHITE = """(el) => {
  const [r, g, b] = getComputedStyle(el).color.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const l = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  return 1.05 / (l + 0.05);
}"""


def test_every_remove_button_of_the_team_is_clickable_and_the_page_fits(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    for width, height in ((1366, 900), (900, 900), (360, 740)):
        page = login(browser, live, acme.owner.email, width, height)
        page.goto(f"{live}/team/")
        for member in acme.operators:
            remove = page.get_by_role("button", name=f"Remove {member.name}")
            remove.scroll_into_view_if_needed()
            remove.click(trial=True)  # not under another card, not cut at the card's edge
            box = remove.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
        assert page.evaluate(FITS), width
        screenshot(page, f"fit-team-{width}")
        page.context.close()


def test_a_long_unbroken_contact_name_wraps_on_the_customers_page(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    Contact.objects.create(company=acme.company, email="long@example.com", name=LONG)
    for width, height in ((1366, 900), (900, 900), (360, 740)):
        page = login(browser, live, acme.owner.email, width, height)
        page.goto(f"{live}/customers/")
        expect(page.get_by_text(LONG)).to_be_visible()
        assert page.evaluate(FITS), width
        screenshot(page, f"fit-customers-{width}")
        page.context.close()


def test_a_phones_conversation_head_keeps_its_actions_on_the_screen(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    type(conversation.visitor).objects.filter(pk=conversation.visitor_id).update(name=LONG)
    for width, height in ((390, 844), (360, 740)):
        page = login(browser, live, acme.operators[0].email, width, height)
        page.goto(f"{live}/inbox/{conversation.pk}/")
        expect(page.locator("#thread")).to_contain_text("Hello")
        title = page.locator("#pane-title")
        expect(title).to_have_text(LONG)
        # The name on one line, ellipsized.
        assert title.evaluate("(el) => el.getBoundingClientRect().height"
                              " < 2 * parseFloat(getComputedStyle(el).lineHeight)")
        assert title.evaluate("(el) => getComputedStyle(el).textOverflow") == "ellipsis"
        for selector in ("#resolve", "#snooze-button"):
            expect(page.locator(selector)).to_be_in_viewport(ratio=1)
        if page.locator("#claim").is_visible():
            expect(page.locator("#claim")).to_be_in_viewport(ratio=1)
        # The toolbar's buttons on one line each (the `{ }` one wrapped).
        tall = page.evaluate("""() => [...document.querySelectorAll('.composer-tools .tool')]
          .filter((b) => b.offsetParent && b.getBoundingClientRect().height > 46).length""")
        assert tall == 0
        # The reply field shows its placeholder whole.
        assert page.locator("#reply").evaluate("(el) => el.scrollHeight <= el.clientHeight + 1")
        # The bottom bar's labels are whole.
        cut = page.evaluate("""() => [...document.querySelectorAll('#pane-nav span')]
          .filter((s) => s.offsetParent && s.scrollWidth > s.clientWidth)
          .map((s) => s.textContent)""")
        assert cut == []
        assert page.evaluate(FITS)
        screenshot(page, f"fit-phone-conversation-{width}")
        # The menu: the company's name and the role on their own lines.
        page.click("#pane-nav [data-nav-toggle]")
        name = page.locator(".switcher .company-name").bounding_box()
        role = page.locator(".switcher .role").bounding_box()
        assert name is not None and role is not None
        assert role["y"] >= name["y"] + name["height"] - 1
        screenshot(page, f"fit-phone-menu-{width}")
        page.context.close()


def test_the_profiles_link_buttons_meet_wcag_aa_on_white(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    other = login(browser, live, acme.owner.email)  # a second session to sign out
    page = login(browser, live, acme.owner.email)
    page.goto(f"{live}/account/")
    sign_out = page.locator(".content table .linklike").first  # the other session's Sign out
    expect(sign_out).to_be_visible()
    assert sign_out.evaluate(CONTRAST_ON_WHITE) >= 4.5
    screenshot(page, "fit-profile-sessions")
    other.context.close()
    page.context.close()


def test_the_sidebars_attributes_line_up_with_the_who_grid(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    owner = acme.membership(acme.owner)
    do_define_attribute(owner, "seats", "Seats", "number")
    do_define_attribute(owner, "plan", "Plan", "list", "free\npro")
    actions.do_identify(conversation.visitor, **signed(acme.widget, "u1"))
    for width, height in ((1366, 900), (360, 740)):
        page = login(browser, live, acme.operators[0].email, width, height)
        page.goto(f"{live}/inbox/{conversation.pk}/")
        expect(page.locator("#thread")).to_contain_text("Hello")
        if width < 768:
            page.click("#pane-nav [data-pane=side]")
        seats = page.locator("#side #attr-seats")
        expect(seats).to_be_visible()
        value = page.locator("#side dl dd").first.bounding_box()
        side = page.locator("#side").bounding_box()
        for selector in ("#attr-seats", "#attr-plan"):
            box = page.locator(f"#side {selector}").bounding_box()
            assert value is not None and side is not None and box is not None
            assert abs(box["x"] - value["x"]) <= 1, selector  # the values' column
            assert box["x"] + box["width"] <= side["x"] + side["width"], selector  # not clipped
        assert page.evaluate(FITS)
        screenshot(page, f"fit-sidebar-attributes-{width}")
        page.context.close()
