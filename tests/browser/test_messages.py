"""Messages in real browsers (C4): an image sent from the widget shows in the inbox, typing
shows on the other side, links are safe, and read receipts come back."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from ..test_attachments import png_bytes
from .conftest import login, screenshot
from .test_live_chat import open_widget


def test_image_typing_links_and_receipts(browser: Browser, demo: Any, live: str,
                                         settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    _page, frame = open_widget(browser, site_url)
    frame.fill("#body", "Here is the broken part, see https://example.com/part?id=7.")
    frame.press("#body", "Enter")
    frame.set_input_files("#file", files=[{"name": "part.png", "mimeType": "image/png",
                                           "buffer": png_bytes()}])
    expect(frame.locator(".files img")).to_have_attribute("alt", "part.png")

    alice.locator(".conv", has_text="part.png").click()
    expect(alice.locator("#thread .files img")).to_have_attribute("alt", "part.png")
    # The image really loads from our origin (decoded, with a size).
    alice.wait_for_function(
        "() => { const i = document.querySelector('#thread .files img');"
        " return i && i.complete && i.naturalWidth > 0; }")
    link = alice.locator("#thread .msg a", has_text="https://example.com/part?id=7")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
    expect(link).to_have_attribute("target", "_blank")

    alice.click("#claim")
    alice.type("#reply", "Thanks")
    expect(frame.locator("#typing")).to_have_text(f"{tenant.operators[0].name} is typing…")
    alice.press("#reply", "Enter")
    expect(frame.locator(".msg.theirs p").last).to_have_text("Thanks")
    # The widget is open and visible: the reply is read, and Alice sees it.
    expect(alice.locator("#thread .receipt")).to_have_text("Read")
    frame.type("#body", "ok")
    expect(alice.locator("#typing")).to_contain_text("is typing…")
    screenshot(alice, "inbox-attachment")
