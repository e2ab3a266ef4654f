"""Saved replies' settings page and Markdown messages in real browsers (issue 18 points 1
and 2): a person creates, edits and deletes a reply, on a desk and on a phone; a bold word
and a link the team writes reach the widget rendered, and a script stays text."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, FilePayload, expect

from plug2support.replies.models import SavedReply

from ..test_attachments import PDF
from .conftest import login, screenshot
from .test_live_chat import open_widget


def _media(settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}


def _no_violations(page: Any) -> None:
    results = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]})
    assert results.violations_count == 0, results.generate_report()


def test_an_admin_creates_edits_and_deletes_a_saved_reply(browser: Browser, demo: Any,
                                                          live: str, settings: Any,
                                                          tmp_path: Any) -> None:
    _media(settings, tmp_path)
    tenant, _site = demo
    page = login(browser, live, tenant.owner.email)
    page.get_by_role("link", name="Saved replies").click()
    expect(page.get_by_role("heading", name="Saved replies", level=1)).to_be_visible()

    # A refusal names the unknown variable, on the field.
    page.get_by_label("Everyone in the company").check()
    page.get_by_label("Title").fill("Refund policy")
    page.get_by_label("Shortcut").fill("refund")
    page.get_by_label("Text").fill("Hi {{contact.phone}}")
    page.get_by_role("button", name="Add reply").click()
    expect(page.get_by_role("alert")).to_contain_text("Unknown variable contact.phone")

    page.get_by_label("Text").fill("Hi {{contact.name|there}}, we refund **within 30 days**.")
    policy: FilePayload = {"name": "policy.pdf", "mimeType": "application/pdf", "buffer": PDF}
    page.get_by_label("Attach files").set_input_files(files=[policy])
    page.get_by_role("button", name="Add reply").click()
    expect(page.locator(".flash")).to_contain_text("type /refund in the composer")
    item = page.locator(".saved-reply", has_text="Refund policy")
    expect(item).to_contain_text("/refund")
    expect(item).to_contain_text("policy.pdf")
    expect(item).to_contain_text("Used 0 times")
    _no_violations(page)
    screenshot(page, "saved-replies")

    item.get_by_role("link", name="Edit").click()
    page.get_by_label("Title").fill("Refunds")
    page.get_by_label("policy.pdf").check()  # remove it
    _no_violations(page)
    screenshot(page, "saved-reply-edit")
    page.get_by_role("button", name="Save").click()
    item = page.locator(".saved-reply", has_text="Refunds")
    expect(item).to_be_visible()
    expect(item).not_to_contain_text("policy.pdf")
    reply = SavedReply.objects.get()
    assert (reply.title, reply.owner_id, reply.files.count()) == ("Refunds", None, 0)

    item.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_contain_text("“Refunds” deleted")
    expect(page.locator(".saved-reply")).to_have_count(0)
    assert not SavedReply.objects.exists()


def test_an_operator_keeps_their_own_on_a_phone(browser: Browser, demo: Any,
                                                live: str) -> None:
    tenant, _site = demo
    page = login(browser, live, tenant.operators[0].email, width=390, height=844)
    page.goto(f"{live}/settings/saved-replies/")
    expect(page.get_by_label("Everyone in the company")).to_have_count(0)
    page.get_by_label("Title").fill("Closing")
    page.get_by_label("Shortcut").fill("bye")
    page.get_by_label("Text").fill("Have a great day, {{contact.name|friend}}!")
    page.get_by_role("button", name="Add reply").click()
    mine = page.locator("section", has=page.get_by_role("heading", name="My replies"))
    expect(mine.locator(".saved-reply")).to_contain_text("Closing")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    _no_violations(page)
    screenshot(page, "saved-replies-phone")


def test_bold_and_a_link_reach_the_widget_rendered_and_a_script_stays_text(
        browser: Browser, demo: Any, live: str) -> None:
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    visitor, frame = open_widget(browser, site_url)
    frame.fill("#body", "Do you ship to Spain? **asking**")
    frame.press("#body", "Enter")
    alice.locator(".conv", has_text="Do you ship to Spain?").click()
    alice.click("#claim")
    alice.fill("#reply", "We do, in **3 days**: see [shipping](https://example.com/ship).")
    alice.press("#reply", "Enter")
    bold = frame.locator(".msg.theirs .md strong")
    expect(bold).to_have_text("3 days")
    link = frame.locator(".msg.theirs .md a", has_text="shipping")
    expect(link).to_have_attribute("href", "https://example.com/ship")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(alice.locator("#thread .msg.mine .md strong")).to_have_text("3 days")
    # The visitor's own Markdown is not the team's: it stays as typed.
    expect(frame.locator(".msg.mine p").first).to_have_text("Do you ship to Spain? **asking**")

    alice.fill("#reply", "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>")
    alice.press("#reply", "Enter")
    expect(frame.locator(".msg.theirs .md").last).to_contain_text("<script>window.pwned = 1")
    expect(alice.locator("#thread .msg.mine .md").last).to_contain_text("<img src=x")
    assert frame.evaluate("window.pwned") is None
    assert alice.evaluate("window.pwned") is None
    assert frame.locator(".msg .md img, .msg .md script").count() == 0
    screenshot(visitor, "widget-markdown")
    screenshot(alice, "inbox-markdown")
