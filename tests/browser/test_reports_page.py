"""K1 in a real browser: the reports page over the worked period of tests/test_reports.py —
tiles, charts with their tables a click away, the period picker, a CSV download — passes
axe's WCAG AA rules in the light and the dark theme and fits a phone."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from plug2support.accounts.models import Theme, User

from ..conftest import Tenant
from ..test_reports import PERIOD, build_period
from .conftest import login, screenshot
from .test_accessibility import violations

QUERY = "&".join(f"{key}={value}" for key, value in PERIOD.items())


def test_the_reports_page_reads_well_and_downloads_its_numbers(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    build_period(acme)
    owner = login(browser, live, acme.owner.email)
    owner.goto(f"{live}/reports/?{QUERY}")
    expect(owner.locator('.tile[data-metric="created"] .tile-value')).to_have_text("4")
    expect(owner.locator('.tile[data-metric="resolved"] .tile-value')).to_have_text("5")
    expect(owner.locator('.tile[data-metric="first_response_median"] .tile-value')).to_have_text(
        "15 min")
    # Each chart is an image with a name, and its numbers are a table a click away.
    for name in ("Conversations created and resolved per day, 2026-03-02 – 2026-03-15",
                 "Conversations created by weekday and hour", "Ratings by score, 1 to 5"):
        expect(owner.get_by_role("img", name=name)).to_be_visible()
    daily = owner.locator("section", has=owner.locator("#daily-h"))
    daily.get_by_text("As a table").click()
    expect(owner.locator("#daily-table tbody tr")).to_have_count(14)
    expect(owner.locator("#daily-table tr", has_text="Mon 2 Mar 2026")).to_contain_text("3")
    op1 = owner.locator("#by-operator-table tr", has_text="Acme Op1")
    expect(op1).to_contain_text("1 h 20 min")  # median of 15 min, 80 min and 89 h 30
    with owner.expect_download() as download:
        daily.get_by_text("Download as CSV").click()
    lines = open(download.value.path()).read().splitlines()
    assert lines[0] == "day,created,resolved" and lines[1] == "2026-03-02,2,3"
    owner.set_viewport_size({"width": 1366, "height": 2200})
    screenshot(owner, "reports-worked-period")
    assert violations(owner) == []

    # The picker: the dates only for a custom range; a bad one says why.
    owner.select_option("#period", "7d")
    expect(owner.locator("#from")).to_be_hidden()
    owner.select_option("#period", "custom")
    owner.fill("#from", "2026-03-15")
    owner.fill("#to", "2026-03-01")
    owner.get_by_role("button", name="Show").click()
    expect(owner.get_by_role("alert")).to_contain_text("ends before it starts")

    User.objects.filter(pk=acme.owner.pk).update(theme=Theme.DARK)
    owner.goto(f"{live}/reports/?{QUERY}")
    owner.set_viewport_size({"width": 1366, "height": 2200})
    screenshot(owner, "reports-dark")
    assert violations(owner) == []
    owner.set_viewport_size({"width": 390, "height": 844})
    assert owner.evaluate("document.documentElement.scrollWidth <= innerWidth")
    screenshot(owner, "reports-phone")
