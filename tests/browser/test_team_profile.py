"""The Team page's Remove member asks first (a modal dialog, keyboard and screen-reader
friendly, no inline script under the console's CSP), and the profile page's inputs look like
the other forms' (app.css's `.field`)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.accounts.models import Membership

from .conftest import login, screenshot


def test_removing_a_member_asks_first_and_cancel_keeps_them(browser: Browser,
                                                            tenants: Any, live: str) -> None:
    acme, _globex = tenants
    member = acme.operators[0]
    owner = login(browser, live, acme.owner.email)
    owner.goto(f"{live}/team/")
    remove = owner.get_by_role("button", name=f"Remove {member.name}")
    remove.focus()
    owner.keyboard.press("Enter")
    dialog = owner.get_by_role("dialog", name=f"Remove {member.name} from Acme?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("lose access at once")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # Enter does no harm
    screenshot(owner, "team-remove-confirm")
    owner.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(remove).to_be_focused()
    remove.click()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert Membership.objects.filter(user=member, company=acme.company).exists()
    remove.click()
    dialog.get_by_role("button", name="Remove member").click()
    expect(owner.get_by_text("was removed from Acme")).to_be_visible()
    assert not Membership.objects.filter(user=member, company=acme.company).exists()


def test_profile_inputs_are_styled_as_the_other_forms(browser: Browser, tenants: Any,
                                                      live: str) -> None:
    acme, _globex = tenants
    page = login(browser, live, acme.operators[0].email)
    page.goto(f"{live}/account/")
    style = ("e => { const s = getComputedStyle(e); "
             "return [s.paddingTop, s.borderTopLeftRadius, s.borderTopWidth, s.width]; }")
    name = page.get_by_label("Name", exact=True)
    padding, radius, border, _width = name.evaluate(style)
    assert (padding, radius, border) == ("9px", "9px", "1px")
    for label in ("Current password", "New password", "New password again"):
        assert page.get_by_label(label, exact=True).evaluate(style)[:3] == [padding, radius,
                                                                             border]
    # The inputs fill their card, as in the other forms.
    card = page.locator("section[aria-labelledby=details-h]").bounding_box()
    box = name.bounding_box()
    assert card is not None and box is not None and box["width"] > card["width"] * 0.8
    expect(page.get_by_role("radio", name="Dark")).to_be_visible()
    screenshot(page, "profile-fields")
