"""K2 in a real browser: a visitor on the demo site chats, the operator resolves, the widget
asks for a rating, the visitor picks a face with the keyboard and comments, and the rating
appears live in the operator's thread and on the reports page."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from plug2support.satisfaction.models import Rating

from .conftest import login, screenshot
from .test_live_chat import open_widget


def test_a_visitor_rates_a_resolved_chat_and_the_team_sees_it_live(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    visitor_page, frame = open_widget(browser, site_url)
    frame.fill("#body", "My grinder makes a noise")
    frame.press("#body", "Enter")
    item = alice.locator(".conv", has_text="My grinder makes a noise")
    item.click()
    alice.click("#claim")
    alice.fill("#reply", "Clean the burrs; that fixes it.")
    alice.press("#reply", "Enter")
    expect(frame.locator(".msg.theirs p")).to_have_text("Clean the burrs; that fixes it.")
    alice.click("#resolve")

    # The question arrives live in the widget: a radio group of five labelled faces.
    group = frame.get_by_role("radiogroup", name="How would you rate this conversation?")
    expect(group).to_be_visible()
    expect(group.get_by_role("radio")).to_have_count(5)
    # The keyboard: focus the first face, move right three times to "4 of 5: Good".
    # (The face in the tab order, as a roving tabindex keeps it: `:focus` only matches
    # while this page is the browser's focused one, and the operator's page was clicked last.)
    visitor_page.bring_to_front()  # the keyboard's focus is the front page's
    group.get_by_role("radio", name="1 of 5: Very bad").focus()
    for _ in range(3):
        frame.locator('.rating .face[tabindex="0"]').press("ArrowRight")
    expect(group.get_by_role("radio", name="4 of 5: Good")).to_have_attribute(
        "aria-checked", "true")
    expect(group.get_by_role("radio", name="4 of 5: Good")).to_have_attribute("tabindex", "0")
    frame.get_by_label("Anything you want to add? (optional)").fill("Quick and clear")
    screenshot(visitor_page, "csat-widget-question")
    frame.locator(".rating").get_by_role("button", name="Send").click()
    expect(frame.locator(".rated")).to_contain_text("You rated this conversation 4 of 5 (Good)")
    expect(frame.locator(".rated q")).to_have_text("Quick and clear")
    expect(frame.locator(".rating")).to_have_count(0)

    # Live in the operator's thread, no reload.
    expect(alice.locator("#thread .system.rating")).to_contain_text(
        "Rated 4 of 5 (Good) 😊: “Quick and clear”")
    screenshot(visitor_page, "csat-widget-rated")
    screenshot(alice, "csat-console-thread")
    rating = Rating.objects.get()
    assert (rating.score, rating.comment, rating.channel) == (4, "Quick and clear", "widget")
    assert rating.operator_id == tenant.operators[0].pk

    # And on the reports page (K1): Alice's own numbers for today.
    alice.goto(f"{live}/reports/?period=today")
    csat = alice.locator('.tile[data-metric="csat_score"]')
    expect(csat.locator(".tile-value")).to_have_text("100%")
    expect(alice.locator('.tile[data-metric="resolved"] .tile-value')).to_have_text("1")
    alice.locator("section", has=alice.locator("#csat-h")).get_by_text("As a table").click()
    expect(alice.locator("#scores-table tr", has_text="4 of 5")).to_be_visible()
    expect(alice.locator("#scores-table tr", has_text="4 of 5")).to_contain_text("1")
    screenshot(alice, "reports-page")
    alice.set_viewport_size({"width": 390, "height": 844})
    assert alice.evaluate("document.documentElement.scrollWidth <= innerWidth")
    screenshot(alice, "reports-page-phone")


def test_the_rating_page_of_the_resolution_mail_on_a_phone(browser: Browser, demo: Any,
                                                           live: str) -> None:
    from plug2support.conversations.actions.messages import do_post_visitor_message
    from plug2support.conversations.actions.stages import do_move_stage
    from plug2support.conversations.actions.visitors import do_identify_visitor
    from plug2support.conversations.models import Channel, Conversation
    from plug2support.satisfaction.links import rating_path
    from plug2support.satisfaction.models import RatingRequest

    tenant, _site = demo
    visitor, _ = do_identify_visitor(tenant.widget, None)
    visitor.email = "customer@example.com"
    visitor.save()
    posted = do_post_visitor_message(visitor, client_id="v1", body="Where is my order?")
    Conversation.objects.filter(pk=posted.event.conversation_id).update(channel=Channel.EMAIL)
    do_move_stage(tenant.membership(tenant.owner),
                  Conversation.objects.get(pk=posted.event.conversation_id), "resolved")
    request = RatingRequest.objects.get()
    page = browser.new_context(viewport={"width": 390, "height": 760}).new_page()
    page.goto(f"{live}{rating_path(request.pk)}&score=2")
    expect(page.get_by_role("radio", name="Bad", exact=True)).to_be_checked()
    page.get_by_label("Anything you want to add? (optional)").fill("It took a week")
    screenshot(page, "csat-page-phone")
    page.get_by_role("button", name="Send my rating").click()
    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    page.go_back()
    page.reload()
    expect(page.get_by_role("heading", name="Already rated")).to_be_visible()
    screenshot(page, "csat-page-used")
    assert Rating.objects.get().score == 2
