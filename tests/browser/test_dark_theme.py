"""M10: the console's dark theme passes axe's WCAG AA rules on the inbox with a conversation
open, the profile page and a settings page; chosen "system", it follows the device."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.accounts.models import Theme, User

from .conftest import login, screenshot
from .test_accessibility import violations
from .test_live_chat import open_widget


def test_dark_theme_has_no_wcag_aa_violation(browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    User.objects.filter(pk=tenant.owner.pk).update(theme=Theme.DARK)
    owner = login(browser, live, tenant.owner.email)
    assert owner.locator("html").get_attribute("data-theme") == "dark"
    expect(owner.locator("#live")).to_have_text("live")
    _page, frame = open_widget(browser, site_url)
    frame.fill("#body", "Hello from the dark")
    frame.press("#body", "Enter")
    owner.locator(".conv", has_text="Hello from the dark").click()
    expect(owner.locator("#thread")).to_contain_text("Hello from the dark")
    screenshot(owner, "dark-inbox")
    found = {"inbox": violations(owner)}
    for path in ("/account/", "/settings/alerts/", "/team/"):
        owner.goto(f"{live}{path}")
        owner.wait_for_load_state("networkidle")
        screenshot(owner, "dark" + path.replace("/", "-"))
        found[path] = violations(owner)
    assert {page: v for page, v in found.items() if v} == {}


def test_system_theme_follows_the_device(browser: Browser, demo: Any, live: str) -> None:
    tenant, _ = demo
    owner = login(browser, live, tenant.owner.email)
    owner.emulate_media(color_scheme="dark")
    owner.goto(f"{live}/account/")
    background = owner.evaluate("getComputedStyle(document.body).backgroundColor")
    owner.emulate_media(color_scheme="light")
    assert owner.evaluate("getComputedStyle(document.body).backgroundColor") != background
