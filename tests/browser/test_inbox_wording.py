"""What the inbox says matches what visitors see: a search with no result says so, and a
widget closed by its business hours is not announced as live."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.widgets.models import Widget

from .conftest import login
from .test_live_chat import click_launcher


def test_a_search_with_no_result_says_no_results_not_no_conversations_yet(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, _site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    expect(alice.locator("#empty-list")).to_be_visible()  # an empty inbox says so
    alice.fill("#f-q", "zebra")
    expect(alice.locator("#no-results")).to_have_text(
        "No results: no conversation matches this search or these filters.")
    expect(alice.locator("#empty-list")).to_be_hidden()


def test_the_inbox_says_which_widgets_are_closed_by_their_business_hours(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    # Business hours on and no opening hours: closed at every instant.
    Widget.objects.filter(pk=tenant.widget.pk).update(hours_enabled=True)
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#team-online")).to_have_text(
        "Closed (business hours): widgets show the offline form")
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(site_url)
    frame = click_launcher(page)
    expect(frame.locator("#status")).to_have_text("We're closed right now")

    Widget.objects.create(company=tenant.company, name="Always open site")
    alice.reload()
    expect(alice.locator("#team-online")).to_have_text(
        f"Widgets are live, except {tenant.widget.name} (closed: business hours)")
