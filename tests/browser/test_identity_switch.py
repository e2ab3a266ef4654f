"""One browser, two people (N7): the site identifies user A, A writes, then the site
identifies user B, or logs A out (`Plug2Support.reset()`): the widget starts afresh, and
nothing of A's conversation is shown. A widget requiring identity asks the others to log in."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from plug2support.contacts.identity import expected_hash
from plug2support.conversations.models import Conversation
from plug2support.widgets.models import SiteVisitor, Widget

from ..conftest import logged_in_client
from ..test_attachments import png_bytes
from .conftest import login, widget_frame
from .test_attachment_links import IMAGE_SHOWN
from .test_live_chat import click_launcher

A_WRITES = "A's order 1042 goes to 12 Elm Street"


def who(widget: Widget, user_id: str, name: str) -> dict[str, str]:
    return {"user_id": user_id, "user_hash": expected_hash(widget.secret, user_id),
            "name": name}


def identify(page: Page, identity: dict[str, str]) -> None:
    page.wait_for_function("() => window.Plug2Support !== undefined")
    page.evaluate("(who) => Plug2Support.identify(who)", identity)


def visit_as(browser: Browser, site_url: str, widget: Widget,
             identity: dict[str, str] | None) -> tuple[Page, Any]:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(site_url)
    if identity is not None:
        identify(page, identity)
    frame = click_launcher(page)
    frame.wait_for_selector("#status:text('We reply as soon as we can')")
    return page, frame


def write(frame: Any, text: str) -> None:
    frame.fill("#body", text)
    frame.press("#body", "Enter")
    # Acknowledged: the bubble is the stored event, no longer the pending copy.
    expect(frame.locator(".msg.mine:not(.pending) p", has_text=text)).to_be_visible()


def test_the_site_identifies_another_user_and_the_widget_shows_them_nothing_of_the_first(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    login(browser, live, tenant.operators[0].email)  # someone online: the chat is live
    widget = tenant.widget
    page, frame = visit_as(browser, site_url, widget, who(widget, "user-a", "Ann"))
    write(frame, A_WRITES)
    token_a = frame.evaluate(f"() => localStorage.getItem('p2s:{widget.key}:token')")

    identify(page, who(widget, "user-b", "Ben"))
    expect(frame.locator(".msg")).to_have_count(0)  # A's message is gone from the thread
    write(frame, "Ben here, hello")
    expect(frame.locator(".msg")).to_have_count(1)
    assert frame.evaluate(f"() => localStorage.getItem('p2s:{widget.key}:token')") != token_a
    conversations = {c.visitor.contact_link.contact.external_id: c
                     for c in Conversation.objects.select_related(
                         "visitor__contact_link__contact")}
    assert set(conversations) == {"user-a", "user-b"}
    assert [e.body for e in conversations["user-b"].events.filter(kind="message")] == \
        ["Ben here, hello"]

    # B finds their conversation again on this browser after a reload; A, who comes back
    # after B, starts afresh (this browser kept only B's visitor).
    page.reload()
    identify(page, who(widget, "user-b", "Ben"))
    frame = click_launcher(page)
    expect(frame.locator(".msg.mine p")).to_have_text(["Ben here, hello"])
    identify(page, who(widget, "user-a", "Ann"))
    expect(frame.locator(".msg")).to_have_count(0)


def test_reset_when_the_user_logs_out_starts_a_new_visitor(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    login(browser, live, tenant.operators[0].email)
    widget = tenant.widget
    page, frame = visit_as(browser, site_url, widget, who(widget, "user-a", "Ann"))
    write(frame, A_WRITES)

    page.evaluate("() => Plug2Support.reset()")
    expect(frame.locator(".msg")).to_have_count(0)
    write(frame, "Someone else, anonymous")
    expect(frame.locator(".msg")).to_have_count(1)
    anonymous = Conversation.objects.get(events__body="Someone else, anonymous")
    assert not hasattr(anonymous.visitor, "contact_link")
    assert anonymous.events.filter(kind="message").count() == 1

    # A reset on a page where the chat was never opened holds for the next page: the
    # anonymous conversation above does not open there.
    page.reload()
    page.wait_for_function("() => window.Plug2Support !== undefined")
    page.evaluate("() => Plug2Support.reset()")
    page.reload()
    frame = click_launcher(page)
    frame.wait_for_selector("#status:text('We reply as soon as we can')")
    write(frame, "A third person")
    expect(frame.locator(".msg")).to_have_count(1)
    third = Conversation.objects.get(events__body="A third person")
    assert third.visitor_id != anonymous.visitor_id
    assert third.events.filter(kind="message").count() == 1
    assert page.evaluate("() => localStorage.getItem('p2s:reset')") is None


def test_a_widget_requiring_identity_asks_the_unidentified_to_log_in(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    login(browser, live, tenant.operators[0].email)
    widget = tenant.widget
    Widget.objects.filter(pk=widget.pk).update(require_identity=True)
    from plug2support.widgets.cache import forget

    forget(widget.key)
    page, frame = visit_as(browser, site_url, widget, None)
    expect(frame.locator("#identity-needed")).to_be_visible()
    expect(frame.locator("#composer")).to_be_hidden()
    identify(page, who(widget, "user-a", "Ann"))
    expect(frame.locator("#composer")).to_be_visible()
    expect(frame.locator("#identity-needed")).to_be_hidden()
    write(frame, "Logged in, I can write")


def test_an_identified_user_sends_and_sees_an_image(browser: Browser, demo: Any, live: str,
                                                    settings: Any, tmp_path: Any) -> None:
    """The upload and the image's link carry the user's proof (the identity headers), which
    the server asks of a verified user's visitor."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}
    tenant, site_url = demo
    login(browser, live, tenant.operators[0].email)
    widget = tenant.widget
    _page, frame = visit_as(browser, site_url, widget, who(widget, "user-a", "Ann"))
    write(frame, "Here is the broken part")
    frame.set_input_files("#file", files=[{"name": "part.png", "mimeType": "image/png",
                                           "buffer": png_bytes()}])
    frame.wait_for_function(IMAGE_SHOWN)
    expect(frame.locator("#error")).to_be_hidden()


def test_reset_covers_a_visitor_who_never_identified_also_for_an_operators_invite(
        browser: Browser, demo: Any, live: str, settings: Any) -> None:
    """X chats without identifying; the site logs X out (reset() on a page where the chat
    is not open); Y browses and never opens the chat; an operator starts a chat with whoever
    is on the page. Y's widget opens with the operator's greeting only: nothing of X's."""
    settings.SITE_HEARTBEAT_SECONDS = 1
    tenant, site_url = demo
    login(browser, live, tenant.operators[0].email)
    widget = tenant.widget
    page, frame = visit_as(browser, site_url, widget, None)
    write(frame, A_WRITES)
    x_conversation = Conversation.objects.get(events__body=A_WRITES)
    vid_x = page.evaluate("() => localStorage.getItem('p2s:vid')")

    page.reload()
    page.wait_for_function("() => window.Plug2Support !== undefined")
    page.evaluate("() => Plug2Support.reset()")
    page.reload()  # Y, on the next page, does not open the chat
    vid_y = page.evaluate("() => localStorage.getItem('p2s:vid')")
    assert vid_y and vid_y != vid_x  # a new site visitor for whoever comes next
    page.wait_for_function(  # Y's page view reached the server
        "() => performance.getEntriesByType('resource').some(e => e.name.endsWith('/pageview'))")
    site_visitor = SiteVisitor.objects.get(widget=widget, vid=vid_y)
    assert site_visitor.visitor is None
    started = logged_in_client(tenant.operators[0]).post(
        f"/visitors/{site_visitor.pk}/chat", {"body": "Hi! Can I help you?"})
    assert started.status_code == 302

    frame = widget_frame(page)  # opened by the invite at the next heartbeat
    expect(frame.locator(".msg.theirs p")).to_have_text(["Hi! Can I help you?"])
    expect(frame.locator(".msg.mine")).to_have_count(0)
    write(frame, "Y here")
    y_conversation = Conversation.objects.get(events__body="Y here")
    assert y_conversation.visitor_id != x_conversation.visitor_id
    assert list(x_conversation.events.filter(kind="message").values_list("body", flat=True)) \
        == [A_WRITES]
