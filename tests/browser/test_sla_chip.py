"""Service targets (K3) in the console: each row shows its time left, amber under the
warning threshold and red once breached (text as well as colour), and the chip counts down
from the due time the payload carries. Time-machine moves the server's clock to open the
conversations in the past; the browser's clock is the real one."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone
from playwright.sync_api import Browser, expect

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.sla.models import SlaPolicy

from ..conftest import Tenant
from .conftest import login, screenshot


def opened_ago(tenant: Tenant, minutes: int, body: str) -> int:
    with time_machine.travel(timezone.now() - timedelta(minutes=minutes), tick=False):
        visitor, _ = do_identify_visitor(tenant.widget, None)
        posted = do_post_visitor_message(visitor, client_id=f"v{minutes}", body=body)
    return posted.event.conversation_id


def chip(conversation_id: int) -> str:
    return f'#conversations a.conv[data-id="{conversation_id}"] .sla-chip'


def test_the_time_left_chip_turns_amber_then_red(browser: Browser, live: str,
                                                 tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    SlaPolicy.objects.create(company=acme.company, name="Chat", first_response_minutes=60,
                             business_hours=False, warn_minutes=10)
    fresh = opened_ago(acme, 1, "Just arrived")
    near = opened_ago(acme, 55, "Waiting a while")
    late = opened_ago(acme, 120, "Waiting for ages")
    theirs = opened_ago(globex, 1, "Another company's")
    page = login(browser, live, acme.operators[0].email)
    expect(page.locator(chip(fresh))).to_have_attribute("data-state", "ok")
    expect(page.locator(chip(fresh))).to_have_text("58m left")
    expect(page.locator(chip(near))).to_have_attribute("data-state", "warn")
    expect(page.locator(chip(near))).to_contain_text("Due soon")
    expect(page.locator(chip(late))).to_have_attribute("data-state", "breached")
    expect(page.locator(chip(late))).to_contain_text("Breached 1h 0m ago")
    assert page.locator(f'#conversations a.conv[data-id="{theirs}"]').count() == 0
    # The countdown is the payload's due time less the browser's clock.
    left = page.evaluate(
        "(id) => { const c = document.querySelector(`#conversations a.conv[data-id='${id}'] "
        ".sla-chip`); return (Date.parse(JSON.parse(c.dataset.sla).due_at) - Date.now()) "
        "/ 60000; }", near)
    assert 3.5 < left < 5.1
    colours = page.evaluate(
        "(ids) => ids.map((id) => getComputedStyle(document.querySelector("
        "`#conversations a.conv[data-id='${id}'] .sla-chip`)).backgroundColor)",
        [fresh, near, late])
    assert len(set(colours)) == 3, colours
    screenshot(page, "sla_chips")
    # The time-left order puts the breached one first.
    page.select_option("#f-sort", "time_left")
    page.wait_for_function(
        "(ids) => [...document.querySelectorAll('#conversations a.conv')]"
        ".map((a) => Number(a.dataset.id)).join() === ids.join()", arg=[late, near, fresh])


def test_the_settings_page_refuses_a_zero_target_and_saves_a_policy(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _globex = tenants
    page = login(browser, live, acme.owner.email)
    page.goto(f"{live}/settings/service-targets/")
    page.get_by_label("Name").fill("Standard")
    page.get_by_label("First response within").fill("0")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".sla-form .error")).to_have_text("A target must be more than zero.")
    screenshot(page, "sla_settings_error")
    page.get_by_label("First response within").fill("30")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".sla-policies li")).to_contain_text("Standard")
    assert SlaPolicy.objects.get(company=acme.company).first_response_minutes == 30
    screenshot(page, "sla_settings")
