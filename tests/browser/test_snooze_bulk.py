"""Snooze (M4) and bulk actions (M5) in the console: snoozing from the conversation's menu
takes it out of All open into Snoozed with a badge and a banner, and it comes back when the
wake job's time comes (time-machine); Shift-click selects three rows and one click resolves
them, the answer naming a row that could not move."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from playwright.sync_api import Browser, Page, expect

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.snooze import wake_due
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Stage

from ..conftest import Tenant
from .conftest import login, screenshot
from .test_accessibility import violations

SHOWN = ("() => [...document.querySelectorAll('#conversations a.conv')]"
         ".map((a) => Number(a.dataset.id))")


def start(tenant: Tenant, body: str, client_id: str,
          stage: str = Stage.NEEDS_RESPONSE) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=client_id, body=body)
    Conversation.objects.filter(pk=posted.event.conversation_id).update(stage=stage)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def shows(page: Page, ids: list[int]) -> None:
    page.wait_for_function(
        f"(ids) => JSON.stringify(({SHOWN})().sort()) === JSON.stringify(ids.sort())", arg=ids)


def test_snooze_until_a_time_and_it_comes_back(browser: Browser, live: str,
                                               tenants: tuple[Tenant, Tenant]) -> None:
    acme, _globex = tenants
    acme.widget.timezone = "Europe/Paris"
    acme.widget.save()
    waiting = start(acme, "Please call me back on Monday", "v1", Stage.WAITING_ON_USER)
    other = start(acme, "Another question", "v2")
    alice = login(browser, live, acme.operators[0].email)
    errors: list[str] = []
    alice.on("pageerror", lambda error: errors.append(str(error)))
    alice.reload()
    expect(alice.locator("#live")).to_have_text("live")
    shows(alice, [waiting.pk, other.pk])

    alice.locator(".conv", has_text="call me back").click()
    menu_button = alice.locator("[data-shortcut=s]")
    expect(menu_button).to_have_text("Snooze")
    expect(alice.locator("#pane-title")).to_have_text(waiting.visitor.display_name)
    alice.keyboard.press("s")  # the keyboard's `s` (keyboard.js) opens the menu
    expect(alice.locator("#snooze-menu")).to_be_visible()
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(alice.locator("#snooze-menu [data-preset=in_1_hour]")).to_be_focused()
    expect(alice.locator("#snooze-zone")).to_contain_text("Europe/Paris")
    screenshot(alice, "snooze-menu")
    assert violations(alice) == []  # the open menu, labelled and in contrast
    alice.get_by_role("button", name="Tomorrow, 9:00").click()
    expect(alice.locator("#snooze-menu")).to_be_hidden()
    expect(alice.locator("#snoozed-text")).to_contain_text("Snoozed until")
    expect(alice.locator("#thread .system").last).to_contain_text("snoozed it until")
    shows(alice, [other.pk])  # out of All open, at once, from the live summary

    with alice.expect_response(lambda r: "/inbox/list" in r.url and "snoozed" in r.url):
        alice.select_option("#f-view", "snoozed")
    shows(alice, [waiting.pk])
    expect(alice.locator(".conv .badge.snoozed")).to_contain_text("Snoozed until")
    screenshot(alice, "snoozed-view")
    assert violations(alice) == []  # the banner and the badge
    with alice.expect_response(lambda r: "/inbox/list" in r.url and "all_open" in r.url):
        alice.select_option("#f-view", "all_open")
    shows(alice, [other.pk])

    # The wake job's time comes.
    waiting.refresh_from_db()
    assert waiting.snoozed_until is not None
    slot = waiting.snoozed_until + timedelta(seconds=30)
    with time_machine.travel(slot, tick=False):
        assert wake_due(slot) == {"woken": 1}
    shows(alice, [waiting.pk, other.pk])  # back in All open
    expect(alice.locator("#snoozed-banner")).to_be_hidden()
    expect(alice.locator("#thread")).to_contain_text("The snooze ended (its time came)")
    expect(alice.locator("#stage")).to_have_value("needs_response")  # WOU → NR
    assert errors == []


def test_a_picked_time_snoozes_and_wake_now_ends_it(browser: Browser, live: str,
                                                    tenants: tuple[Tenant, Tenant]) -> None:
    acme, _globex = tenants
    conversation = start(acme, "Picked time", "v1")
    alice = login(browser, live, acme.operators[0].email, width=390, height=844)
    alice.goto(f"{live}/inbox/{conversation.pk}/")
    expect(alice.locator("#live")).to_have_text("live")
    alice.click("#snooze-button")
    # On a phone the menu stays on the screen.
    box = alice.locator("#snooze-menu").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    alice.locator("#snooze-menu").scroll_into_view_if_needed()
    screenshot(alice, "snooze-menu-phone")
    # Beyond a year: the picker's own bounds refuse it before anything is sent (and the
    # server would too: test_snooze.py).
    alice.fill("#snooze-at", "2099-01-01T10:00")
    alice.get_by_role("button", name="Snooze until then").click()
    assert alice.evaluate("() => document.getElementById('snooze-at').validity.rangeOverflow")
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None
    alice.fill("#snooze-at", alice.evaluate(
        "() => { const d = new Date(Date.now() + 2 * 3600e3); d.setSeconds(0, 0);"
        " return new Date(d - d.getTimezoneOffset() * 6e4).toISOString().slice(0, 16); }"))
    alice.get_by_role("button", name="Snooze until then").click()
    expect(alice.locator("#snoozed-banner")).to_be_visible()
    conversation.refresh_from_db()
    assert conversation.snoozed_until is not None
    alice.click("#wake")
    expect(alice.locator("#snoozed-banner")).to_be_hidden()
    expect(alice.locator("#thread")).to_contain_text("ended the snooze (woken by hand)")


def test_select_three_with_shift_click_and_resolve_them(browser: Browser, live: str,
                                                        tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    rows = [start(acme, f"Question {i}", f"v{i}") for i in range(3)]
    spam = start(acme, "Cheap watches", "s", Stage.SUSPENDED)
    kept = start(acme, "Keep me open", "k")
    start(globex, "Not ours", "g")
    alice = login(browser, live, acme.operators[0].email, width=390, height=844)
    expect(alice.locator("#live")).to_have_text("live")
    with alice.expect_response(lambda r: "/inbox/list" in r.url):
        alice.select_option("#f-view", "all")
    shows(alice, [*[r.pk for r in rows], spam.pk, kept.pk])
    order = alice.evaluate(SHOWN)
    three = [pk for pk in order if pk in {r.pk for r in rows}]
    # The three are next to each other in the list's order (same priority, by waiting time).
    first, last = order.index(three[0]), order.index(three[-1])
    assert last - first == 2
    alice.locator(f".pick[data-id='{three[0]}']").click()
    alice.locator(f".pick[data-id='{three[-1]}']").click(modifiers=["Shift"])
    expect(alice.locator("#bulk-count")).to_have_text("3 selected")
    expect(alice.locator("#select-all")).to_have_js_property("indeterminate", True)
    screenshot(alice, "bulk-bar-phone")
    alice.click("#bulk-resolve")
    expect(alice.locator("#bulk-result")).to_have_text("3 of 3 changed.")
    for row in rows:
        row.refresh_from_db()
        assert row.stage == Stage.RESOLVED
    expect(alice.locator("#conversations .stage.resolved")).to_have_count(3)

    # Back in All open: the resolved ones have left; a refused row is named with its reason.
    with alice.expect_response(lambda r: "/inbox/list" in r.url and "all_open" in r.url):
        alice.select_option("#f-view", "all_open")
    shows(alice, [kept.pk])
    with alice.expect_response(lambda r: "/inbox/list" in r.url):
        alice.select_option("#f-view", "all")
    alice.check("#select-all")
    expect(alice.locator("#bulk-count")).to_have_text("5 selected")
    alice.locator(f".pick[data-id='{kept.pk}']").uncheck()
    alice.locator(f".pick[data-id='{rows[0].pk}']").uncheck()
    alice.locator(f".pick[data-id='{rows[1].pk}']").uncheck()
    alice.locator(f".pick[data-id='{rows[2].pk}']").uncheck()
    expect(alice.locator("#bulk-count")).to_have_text("1 selected")
    alice.click("#bulk-resolve")
    expect(alice.locator("#bulk-result")).to_contain_text("0 of 1 changed. 1 did not:")
    expect(alice.locator("#bulk-result li")).to_contain_text("cannot move to Resolved")
    screenshot(alice, "bulk-refused-phone")
    assert violations(alice) == []  # the checkboxes, the bar and its answer
    spam.refresh_from_db()
    assert spam.stage == Stage.SUSPENDED
