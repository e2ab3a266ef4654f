"""The console's composer in a real browser (M2, M3; issue 18 points 2 and 3): emoji from the
picker and from `:smi` completion reach the sent message, the suggestions popover is an ARIA
combobox driven by the keyboard, drafts survive a reload and reach another tab, Enter versus
Shift+Enter (and the Ctrl+Enter choice), the Markdown toolbar, a pasted image is attached,
and `@bo` in a note completes Bob, whose id the note frame carries."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Browser, Page, expect

from plug2support.accounts.models import Membership, Role, User
from plug2support.attachments.models import Attachment
from plug2support.conversations.models import Conversation, Event, EventKind

from ..conftest import PASSWORD, Tenant
from ..test_attachments import png_bytes
from .conftest import login, screenshot
from .test_accessibility import violations
from .test_console_csp import a_conversation


def open_conversation(browser: Browser, live: str, tenant: Tenant,
                      width: int = 1280, height: int = 800) -> tuple[Page, Conversation]:
    conversation = a_conversation(tenant)
    page = login(browser, live, tenant.operators[0].email, width, height)
    page.goto(f"{live}/inbox/{conversation.pk}/")
    # "attached": on a phone the list, and the socket's state in its head, is another pane.
    page.wait_for_selector("#live.open", state="attached")
    expect(page.locator("#thread")).to_contain_text("Hello")
    return page, conversation


def sent_bodies(conversation: Conversation, kind: str = EventKind.MESSAGE) -> list[str]:
    return list(Event.objects.filter(conversation=conversation, kind=kind, sender="operator")
                .order_by("seq").values_list("body", flat=True))


def test_emoji_from_the_picker_and_from_shortcode_completion_reach_the_sent_message(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page, conversation = open_conversation(browser, live, acme)
    page.fill("#reply", "Thanks ")
    page.click("#emoji-toggle")
    expect(page.locator("#emoji-panel")).to_be_visible()
    expect(page.locator("#emoji-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#emoji-q")).to_be_focused()
    page.fill("#emoji-q", "thumbs up")
    expect(page.locator("#emoji-grid [role=option]").first).to_contain_text("👍")
    screenshot(page, "composer-emoji-picker")
    page.locator("#emoji-grid [role=option]").first.click()
    expect(page.locator("#emoji-panel")).to_be_hidden()
    expect(page.locator("#reply")).to_have_value("Thanks 👍")
    expect(page.locator("#reply")).to_be_focused()

    page.keyboard.type(" see you :smi")
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_be_visible()
    first = options.first.inner_text().split()[0]
    page.keyboard.press("Enter")  # chooses the active suggestion, does not send
    expect(page.locator("#reply")).to_have_value(f"Thanks 👍 see you {first}")
    page.keyboard.press("Enter")
    expect(page.locator("#reply")).to_have_value("")
    expect(page.locator("#thread .msg.mine").last).to_contain_text(f"Thanks 👍 see you {first}")
    assert sent_bodies(conversation) == [f"Thanks 👍 see you {first}"]

    # Recently used first: the last one chosen leads the picker next time.
    page.click("#emoji-toggle")
    expect(page.locator("#emoji-grid [role=option]").first).to_contain_text(first)
    expect(page.locator("#emoji-grid [role=option]").nth(1)).to_contain_text("👍")
    page.keyboard.press("Escape")
    expect(page.locator("#emoji-panel")).to_be_hidden()
    expect(page.locator("#reply")).to_be_focused()


def test_the_suggestions_are_an_aria_combobox_driven_by_arrows_enter_and_escape(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page, conversation = open_conversation(browser, live, acme)
    reply = page.locator("#reply")
    listbox = page.locator("#suggestions")
    expect(reply).to_have_attribute("aria-haspopup", "listbox")
    expect(reply).to_have_attribute("aria-controls", "suggestions")
    expect(reply).to_have_attribute("aria-autocomplete", "list")
    reply.click()
    page.keyboard.type("Lovely :hear")
    expect(listbox).to_be_visible()
    expect(listbox).to_have_attribute("role", "listbox")
    options = listbox.locator("[role=option]")
    assert options.count() > 2
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(reply).to_have_attribute("aria-activedescendant",
                                    options.nth(0).get_attribute("id") or "")
    found = violations(page)
    assert found == [], found  # axe-core, WCAG 2.1 AA, with the popover open
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(options.nth(2)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    page.keyboard.press("ArrowUp")
    expect(reply).to_have_attribute("aria-activedescendant",
                                    options.nth(1).get_attribute("id") or "")
    chosen = options.nth(1).inner_text().split()[0]
    screenshot(page, "composer-suggestions")
    # Arrow up past the first wraps to the last.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(options.last).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(listbox).to_be_hidden()
    expect(reply).to_have_value(f"Lovely {chosen}")
    assert reply.get_attribute("aria-activedescendant") is None

    # Escape closes it; it stays closed while typing on, and Enter then sends what is typed.
    page.keyboard.type(" :sm")
    expect(listbox).to_be_visible()
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    page.keyboard.type("all")
    expect(listbox).to_be_hidden()
    page.keyboard.press("Enter")
    expect(page.locator("#thread .msg.mine").last).to_contain_text(f"Lovely {chosen} :small")
    # A click chooses too.
    page.keyboard.type("Wow :fire")
    listbox.locator("[role=option]", has_text="🔥").first.click()
    expect(reply).to_have_value("Wow 🔥")
    expect(reply).to_be_focused()
    assert sent_bodies(conversation) == [f"Lovely {chosen} :small"]


def test_a_draft_is_kept_per_conversation_and_mode_across_a_reload_and_tabs_until_sent(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page, conversation = open_conversation(browser, live, acme)
    page.fill("#reply", "Half a reply")
    page.check("input[name=mode][value=note]")
    expect(page.locator("#reply")).to_have_value("")
    page.fill("#reply", "A note in progress")
    page.reload()
    page.wait_for_selector("#live.open")
    expect(page.locator("#reply")).to_have_value("Half a reply")
    page.check("input[name=mode][value=note]")
    expect(page.locator("#reply")).to_have_value("A note in progress")
    page.check("input[name=mode][value=message]")

    # Another tab of the same browser shows it, and hears it change.
    other = page.context.new_page()
    other.goto(f"{live}/inbox/{conversation.pk}/")
    other.wait_for_selector("#live.open")
    expect(other.locator("#reply")).to_have_value("Half a reply")
    page.locator("#reply").press("End")
    page.keyboard.type(", and more")
    expect(other.locator("#reply")).to_have_value("Half a reply, and more")

    # Sent: gone from the draft, here and after a reload; the note's draft stays.
    page.keyboard.press("Enter")
    expect(page.locator("#thread .msg.mine").last).to_contain_text("Half a reply, and more")
    page.reload()
    page.wait_for_selector("#live.open")
    expect(page.locator("#reply")).to_have_value("")
    page.check("input[name=mode][value=note]")
    expect(page.locator("#reply")).to_have_value("A note in progress")
    assert sent_bodies(conversation) == ["Half a reply, and more"]

    # Another conversation has its own (empty) draft.
    second = a_conversation_of_another_visitor(acme)
    page.goto(f"{live}/inbox/{second.pk}/")
    page.wait_for_selector("#live.open")
    expect(page.locator("#reply")).to_have_value("")


def a_conversation_of_another_visitor(tenant: Tenant) -> Conversation:
    before = set(Conversation.objects.filter(widget=tenant.widget).values_list("pk", flat=True))
    from django.test import Client

    client = Client()
    key = tenant.widget.key
    token = client.post(f"/widget/api/{key}/session", "{}",
                        content_type="application/json").json()["token"]
    client.post(f"/widget/api/{key}/messages", json.dumps({"client_id": "m-2", "body": "Me too"}),
                content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    return Conversation.objects.filter(widget=tenant.widget).exclude(pk__in=before).get()


def test_enter_sends_shift_enter_breaks_the_line_and_ctrl_enter_can_be_chosen(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page, conversation = open_conversation(browser, live, acme)
    page.locator("#reply").click()
    page.keyboard.type("First line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#reply")).to_have_value("First line\nsecond line")
    page.keyboard.press("Enter")
    expect(page.locator("#reply")).to_have_value("")
    expect(page.locator("#thread .msg.mine").last).to_contain_text("second line")

    page.select_option("#send-key", "ctrl-enter")
    expect(page.locator("#reply")).to_have_attribute(
        "placeholder", "Write a reply… (Ctrl+Enter sends; / for saved replies)")
    page.locator("#reply").click()
    page.keyboard.type("One")
    page.keyboard.press("Enter")
    page.keyboard.type("two")
    expect(page.locator("#reply")).to_have_value("One\ntwo")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#reply")).to_have_value("")
    # Stored (its event came back) before the page goes: a reload before the ack would keep
    # the text as the draft instead, which is another test.
    expect(page.locator("#thread .msg.mine").last).to_contain_text("two")
    # The choice is this person's, kept in the browser.
    page.reload()
    expect(page.locator("#send-key")).to_have_value("ctrl-enter")
    page.wait_for_function("() => document.querySelectorAll('#thread .msg.mine').length === 2")
    assert sent_bodies(conversation) == ["First line\nsecond line", "One\ntwo"]


def test_the_toolbar_writes_markdown_around_the_selection(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page, conversation = open_conversation(browser, live, acme)
    reply = page.locator("#reply")
    reply.fill("make it bold")
    reply.evaluate("(t) => t.setSelectionRange(8, 12)")
    page.get_by_role("button", name="Bold").click()
    expect(reply).to_have_value("make it **bold**")
    page.get_by_role("button", name="Bold").click()  # again: unwrapped
    expect(reply).to_have_value("make it bold")
    reply.evaluate("(t) => t.setSelectionRange(0, 4)")
    page.keyboard.press("Control+i")
    expect(reply).to_have_value("_make_ it bold")
    reply.fill("one\ntwo")
    reply.evaluate("(t) => t.setSelectionRange(0, 7)")
    page.get_by_role("button", name="Numbered list").click()
    expect(reply).to_have_value("1. one\n2. two")
    reply.fill("docs")
    reply.evaluate("(t) => t.setSelectionRange(0, 4)")
    page.get_by_role("button", name="Link").click()
    expect(reply).to_have_value("[docs](https://)")
    page.keyboard.type("example.com")
    expect(reply).to_have_value("[docs](example.com)")
    reply.fill("x = 1")
    reply.evaluate("(t) => t.setSelectionRange(0, 5)")
    page.get_by_role("button", name="Code block").click()
    expect(reply).to_have_value("```\nx = 1\n```\n")
    reply.fill("")
    page.get_by_role("button", name="Bulleted list").click()
    page.keyboard.type("milk")
    page.get_by_role("button", name="Inline code").click()
    page.keyboard.type("npm")
    expect(reply).to_have_value("- milk`npm`")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#thread .msg.mine').length === 1")
    assert sent_bodies(conversation) == ["- milk`npm`"]


def test_a_pasted_image_is_attached_shown_as_a_chip_and_sent(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant], settings: Any,
        tmp_path: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}
    acme, _ = tenants
    page, conversation = open_conversation(browser, live, acme)
    paste = """(bytes) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], "screenshot.png", { type: "image/png" }));
      const event = new ClipboardEvent("paste",
        { clipboardData: data, bubbles: true, cancelable: true });
      document.getElementById("reply").dispatchEvent(event);
    }"""
    page.locator("#reply").fill("Here is what I see")
    page.evaluate(paste, list(png_bytes()))
    chip = page.locator("#pending-files .chip", has_text="screenshot.png")
    expect(chip).to_be_visible()
    expect(page.locator("#reply")).to_have_value("Here is what I see")  # the text stays
    # A second one, removed again before sending.
    page.evaluate(paste, list(png_bytes()))
    expect(page.locator("#pending-files .chip")).to_have_count(2)
    page.get_by_role("button", name="Remove screenshot.png").last.click()
    expect(page.locator("#pending-files .chip")).to_have_count(1)
    # Dropped onto the composer: attached the same way.
    page.evaluate("""(bytes) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
      document.getElementById("composer").dispatchEvent(
        new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    }""", list(png_bytes()))
    expect(page.locator("#pending-files .chip", has_text="dropped.png")).to_be_visible()
    screenshot(page, "composer-attachments")
    page.locator("#reply").press("Enter")
    expect(page.locator("#thread .msg.mine .files img")).to_have_count(2)
    expect(page.locator("#pending-files")).to_be_hidden()
    event = Event.objects.get(conversation=conversation, kind=EventKind.MESSAGE, sender="operator")
    assert event.body == "Here is what I see"
    assert sorted(Attachment.objects.filter(event=event).values_list("name", flat=True)) == [
        "dropped.png", "screenshot.png"]


def test_at_bo_in_a_note_completes_bob_and_the_note_frame_carries_his_id(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    bob = User.objects.create_user(email="bob@acme.test", name="Bob Builder", password=PASSWORD)
    Membership.objects.create(user=bob, company=acme.company, role=Role.OPERATOR)
    other_bob = User.objects.create_user(email="bob@globex.test", name="Bobby Globex",
                                         password=PASSWORD)
    Membership.objects.create(user=other_bob, company=globex.company, role=Role.OPERATOR)
    page, conversation = open_conversation(browser, live, acme)
    frames: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on(
        "framesent", lambda payload: frames.append(json.loads(payload))))
    page.reload()  # the socket opens again, now listened to
    page.wait_for_selector("#live.open")

    # In a reply, @ is only an @.
    page.locator("#reply").click()
    page.keyboard.type("@bo")
    expect(page.locator("#suggestions")).to_be_hidden()
    page.locator("#reply").fill("")

    page.check("input[name=mode][value=note]")
    page.locator("#reply").click()
    page.keyboard.type("Could @bo")
    options = page.locator("#suggestions [role=option]")
    expect(options).to_have_count(1)  # Bob of Acme; not Globex's Bobby, not me
    expect(options.first).to_have_text("@Bob Builder")
    screenshot(page, "composer-mention")
    page.keyboard.press("Enter")
    expect(page.locator("#reply")).to_have_value("Could @Bob Builder ")
    page.keyboard.type("look at the refund?")
    page.keyboard.press("Enter")
    expect(page.locator("#thread .msg.note").last).to_contain_text(
        "Could @Bob Builder look at the refund?")
    note = next(f for f in frames if f.get("type") == "note")
    assert note["mentions"] == [bob.pk]
    assert note["body"] == "Could @Bob Builder look at the refund?"
    assert sent_bodies(conversation, EventKind.NOTE) == ["Could @Bob Builder look at the refund?"]


def test_the_composer_fits_a_phone(browser: Browser, live: str,
                                   tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page, _conversation = open_conversation(browser, live, acme, 390, 844)
    page.locator("#composer").scroll_into_view_if_needed()
    page.click("#emoji-toggle")
    expect(page.locator("#emoji-grid [role=option]").first).to_be_visible()
    box = page.locator("#emoji-panel").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    fits = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert fits
    screenshot(page, "composer-phone-emoji")
    page.keyboard.press("Escape")
    page.keyboard.type("Thanks :tada")
    expect(page.locator("#suggestions [role=option]").first).to_be_visible()
    screenshot(page, "composer-phone-suggestions")
    assert violations(page) == []
