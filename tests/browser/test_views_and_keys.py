"""Issue 18 in the console: live view counts and unread marks (M7), `@bob` in a note
notifying Bob live with a link to the note (M3), the sound without a click where the browser
allows it and a clear "click to turn sound on" where it does not (C1), and the keyboard:
`j`, `k`, `e` and `?` without a mouse (M6)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation

from ..conftest import PASSWORD, Tenant
from .conftest import CHROMIUM, login, screenshot

UNREAD = re.compile(r"\bunread\b")
SHOWN = ("() => [...document.querySelectorAll('#conversations a.conv')]"
         ".map((a) => Number(a.dataset.id))")


def start(tenant: Tenant, body: str, client_id: str) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=client_id, body=body)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def test_counts_and_unread_follow_live_without_a_reload(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    first = start(acme, "first question", "v1")
    alice = login(browser, live, acme.operators[0].email)
    errors: list[str] = []
    alice.on("pageerror", lambda error: errors.append(str(error)))
    alice.reload()
    expect(alice.locator("#live")).to_have_text("live")
    all_open = alice.locator("#view-list button.view", has_text="All open")
    expect(all_open.locator(".view-count")).to_have_text("1")
    # Unread for Alice: bold with a dot.
    row = alice.locator(f'#conversations a[data-id="{first.pk}"]')
    expect(row).to_have_class(UNREAD)
    start(acme, "second question", "v2")
    start(globex, "not ours", "g1")
    expect(all_open.locator(".view-count")).to_have_text("2")
    expect(alice.locator("#view-list button.view", has_text="Unassigned")
           .locator(".view-count")).to_have_text("2")
    screenshot(alice, "views-counts-unread")
    # Opening it clears the mark (for Alice; Bob's stays: test_view_counts).
    row.click()
    expect(alice.locator(f'#conversations a[data-id="{first.pk}"]')).not_to_have_class(UNREAD)
    # Alice looks at another; the customer of the first writes again: unread again, live.
    alice.locator(f'#conversations a[data-id="{first.pk + 1}"]').click()
    expect(alice).to_have_url(f"{live}/inbox/{first.pk + 1}/")
    do_post_visitor_message(first.visitor, client_id="v1b", body="hello?")
    expect(alice.locator(f'#conversations a[data-id="{first.pk}"]')).to_have_class(UNREAD)
    # Saved view: the current filters under a name, shown in the list.
    alice.select_option("#f-view", "mine")
    alice.locator("#save-view-box summary").click()
    alice.fill("#save-view-name", "My queue")
    alice.locator("#save-view button[type=submit]").click()
    # The person's views fold under one chip, so that many do not push the list away.
    mine = alice.locator("#view-list .my-views summary")
    expect(mine).to_have_text("My views (1)")
    mine.click()
    expect(alice.locator("#view-list li.saved", has_text="My queue")).to_be_visible()
    assert errors == []


def test_at_bob_in_a_note_notifies_bob_live_with_a_link_to_the_note(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    alice_op, bob_op = acme.operators
    conversation = start(acme, "a tricky one", "v1")
    bob = login(browser, live, bob_op.email)
    expect(bob.locator("#live")).to_have_text("live")
    expect(bob.locator("#view-list button.view", has_text="Mentions")
           .locator(".view-count")).to_have_text("0")
    alice = login(browser, live, alice_op.email)
    alice.goto(f"{live}/inbox/{conversation.pk}/")
    expect(alice.locator("#live")).to_have_text("live")
    # The composer (H1) sends the frame; here the page's own socket sends it, as it would.
    reply = alice.evaluate("""async ([cid, bob]) => {
        const { socket } = await import('/static/console/inbox/server.js');
        return socket.request({ type: 'note', conversation: cid, client_id: 'n-bob',
                                body: '@Bob can you look?', mentions: [bob] });
    }""", [conversation.pk, bob_op.pk])
    assert reply["type"] == "ack"
    toast = bob.locator("#toasts .toast a", has_text="mentioned you")
    expect(toast).to_be_visible()
    expect(bob.locator("#view-list button.view", has_text="Mentions")
           .locator(".view-count")).to_have_text("1")
    assert toast.get_attribute("href") == f"/inbox/{conversation.pk}/#seq-{reply['seq']}"
    # The Mentions view lists it, its mention marked unread.
    bob.locator("#view-list button.view", has_text="Mentions").click()
    expect(bob.locator(f'#conversations a[data-id="{conversation.pk}"] .mention-mark')
           ).to_have_text("@ unread mention")
    expect(bob.locator("#f-view")).to_have_value("mentions")
    screenshot(bob, "mentions-view")
    toast.click()
    note = bob.locator(f"#seq-{reply['seq']}")
    expect(note).to_have_class(re.compile(r"\btarget\b"))
    expect(note).to_be_in_viewport()
    expect(bob.locator("#view-list button.view", has_text="Mentions")
           .locator(".view-count")).to_have_text("0")
    screenshot(bob, "mention-note")


def test_keyboard_j_k_e_and_the_cheat_sheet_without_a_mouse(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    first, second = start(acme, "first", "v1"), start(acme, "second", "v2")
    alice = login(browser, live, acme.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    alice.wait_for_function(f"(ids) => JSON.stringify(({SHOWN})()) === JSON.stringify(ids)",
                            arg=[first.pk, second.pk])
    alice.keyboard.press("j")
    expect(alice).to_have_url(f"{live}/inbox/{first.pk}/")
    expect(alice.locator("#shortcut-announcer")).to_contain_text("1 of 2")
    alice.keyboard.press("j")
    expect(alice).to_have_url(f"{live}/inbox/{second.pk}/")
    alice.keyboard.press("k")
    expect(alice).to_have_url(f"{live}/inbox/{first.pk}/")
    # Typing in a field is typing, not shortcuts.
    alice.locator("#reply").focus()
    alice.keyboard.type("jk")
    expect(alice.locator("#reply")).to_have_value("jk")
    expect(alice).to_have_url(f"{live}/inbox/{first.pk}/")
    alice.locator("#reply").fill("")
    alice.keyboard.press("Escape")
    alice.evaluate("document.activeElement.blur()")
    # `e` resolves the conversation (the stage table allows New → Resolved).
    alice.keyboard.press("e")
    alice.wait_for_function("() => document.getElementById('stage').dataset.current === 'resolved'")
    assert Conversation.objects.get(pk=first.pk).stage == "resolved"
    expect(alice.locator("#shortcut-announcer")).to_have_text("Resolve")
    # `?`: the cheat sheet, a modal dialog, closed by Escape.
    alice.keyboard.press("?")
    sheet = alice.locator("#cheat-sheet")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("Next conversation")
    screenshot(alice, "keyboard-cheat-sheet")
    alice.keyboard.press("Escape")
    expect(sheet).to_be_hidden()


@pytest.fixture
def chromium_without_autoplay_gate(browser: Browser, live: str) -> Iterator[Browser]:
    """A Chromium that lets pages play sound without a click (what a person's browser does
    for a site they use daily: Chromium's media engagement), from the session's Playwright."""
    allowing = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic",
              "--autoplay-policy=no-user-gesture-required"])
    yield allowing
    allowing.close()


def test_sound_plays_without_a_click_where_the_browser_allows_it(
        chromium_without_autoplay_gate: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page = chromium_without_autoplay_gate.new_page()
    page.goto(f"{live}/accounts/login/")
    page.fill("input[name=username]", acme.operators[0].email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live}/inbox/")
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("body")).to_have_attribute("data-sound", "running")
    expect(page.locator("#sound-on")).to_be_hidden()
    # The socket's first answer is in (the counts): a conversation made before it would come
    # in that answer as already there, not arrive as new.
    expect(page.locator("#view-list button.view", has_text="All open")
           .locator(".view-count")).to_have_text("0")
    start(acme, "ding", "v1")
    expect(page.locator("body")).to_have_attribute("data-chimes", "1")
    # Alice turns the sound of new conversations off (Settings → Alerts): none plays.
    page.goto(f"{live}/settings/alerts/")
    page.uncheck("#alert-new_conversation-sound")
    page.click(".alert-settings button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("saved")
    page.goto(f"{live}/inbox/")
    expect(page.locator("#live")).to_have_text("live")
    quiet = start(acme, "no ding", "v2")
    expect(page.locator(f'#conversations a[data-id="{quiet.pk}"]')).to_be_visible()
    assert page.locator("body").get_attribute("data-chimes") is None
    page.context.close()


def test_where_the_browser_blocks_sound_the_console_says_click_to_turn_it_on(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    alice = login(browser, live, acme.operators[0].email)
    # Headless Chromium's default policy: no sound before the person interacts. The login
    # click happened on another page; this one starts gated.
    alice.reload()
    expect(alice.locator("#live")).to_have_text("live")
    state = alice.locator("body").get_attribute("data-sound")
    if state == "running":  # this browser let the page play (media engagement): nothing to say
        expect(alice.locator("#sound-on")).to_be_hidden()
        return
    expect(alice.locator("#sound-on")).to_be_visible()
    screenshot(alice, "sound-off")
    alice.locator("#sound-on").click()
    expect(alice.locator("body")).to_have_attribute("data-sound", "running")
    expect(alice.locator("#sound-on")).to_be_hidden()


def test_the_view_list_fits_a_phone(browser: Browser, live: str,
                                    tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    start(acme, "from a phone", "v1")
    alice = login(browser, live, acme.operators[0].email, width=390, height=844)
    expect(alice.locator("#live")).to_have_text("live")
    expect(alice.locator("#view-list button.view", has_text="All open")
           .locator(".view-count")).to_have_text("1")
    overflow = alice.evaluate("() => document.documentElement.scrollWidth > innerWidth")
    assert not overflow
    screenshot(alice, "views-phone")


def test_s_and_slash_reach_the_snooze_menu_and_the_saved_replies(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = start(acme, "later please", "v1")
    alice = login(browser, live, acme.operators[0].email)
    alice.goto(f"{live}/inbox/{conversation.pk}/")
    expect(alice.locator("#live")).to_have_text("live")
    alice.evaluate("document.activeElement.blur()")
    alice.keyboard.press("s")
    expect(alice.locator("#snooze-button")).to_have_attribute("aria-expanded", "true")
    expect(alice.locator("#shortcut-announcer")).to_have_text("Snooze")
    alice.keyboard.press("Escape")
    alice.evaluate("document.activeElement.blur()")
    alice.keyboard.press("/")
    # The composer's opener: the reply field, focused, starts a saved-reply search.
    expect(alice.locator("#reply")).to_be_focused()
    expect(alice.locator("#reply")).to_have_value("/")


def test_a_link_to_a_conversation_the_view_leaves_out_opens_it(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    # A mention's link after the conversation was resolved: All open does not list it, the
    # pane still shows it (its list answer came after the conversation's own snapshot).
    acme, _ = tenants
    conversation = start(acme, "since resolved", "v9")
    Conversation.objects.filter(pk=conversation.pk).update(stage="resolved")
    bob = login(browser, live, acme.operators[1].email)
    bob.goto(f"{live}/inbox/{conversation.pk}/#seq-1")
    expect(bob.locator("#live")).to_have_text("live")
    expect(bob.locator("#pane-conversation")).to_be_visible()
    expect(bob.locator("#thread")).to_contain_text("since resolved")
    expect(bob.locator(f'#conversations a[data-id="{conversation.pk}"]')).to_have_count(0)
