"""Two-factor set-up in a real browser (N5): a member whose owner requires it is walked to the
set-up page at login, scans (here: reads the device's key), confirms, sees recovery codes."""

from __future__ import annotations

from typing import Any

from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, expect

from ..conftest import PASSWORD
from ..test_two_factor import totp
from .conftest import screenshot


def test_a_required_member_sets_up_two_factor_at_login(browser: Browser, demo: Any,
                                                        live: str) -> None:
    tenant, _ = demo
    tenant.company.require_two_factor = True
    tenant.company.save()
    user = tenant.operators[0]
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live}/accounts/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live}/account/two-factor/")
    expect(page.locator(".qr svg")).to_be_visible()
    expect(page.locator("code.secret")).to_be_visible()
    screenshot(page, "two-factor-setup")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    page.fill("#code", totp(device.key))
    page.click("form button[type=submit]:has-text('Turn on')")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    screenshot(page, "two-factor-codes")
    page.click("button:has-text('I have saved them')")
    # Made to set it up by the company: on to work (from the profile it would stay there).
    page.wait_for_url(f"{live}/inbox/")
    page.goto(f"{live}/account/two-factor/")
    expect(page.get_by_text("Two-factor authentication is")).to_be_visible()
