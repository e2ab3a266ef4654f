"""A thread stays at its newest message while the reader is there (widget and console): images
that load after the thread was drawn do not push the last message out of view, and a reader
who scrolled up to read back is not pulled down by a new message."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from playwright.sync_api import Browser, Route, expect

from .conftest import login
from .test_live_chat import click_launcher, open_widget

AT_BOTTOM = "(el) => el.scrollHeight - el.scrollTop - el.clientHeight <= 2"
# The thread scrolls in the images' load handlers, which may run after the test saw the
# images complete: wait for the thread to be at the bottom (it never is without the fix).
THREAD_AT_BOTTOM = f"() => ({AT_BOTTOM})(document.getElementById('thread'))"
IMAGES_LOADED = ("(sel) => { const imgs = [...document.querySelectorAll(sel)];"
                 " return imgs.length > 0"
                 " && imgs.every((i) => i.complete && i.naturalHeight > 0); }")


def tall_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 600), (40, 120, 200)).save(out, format="PNG")
    return out.getvalue()


class HeldImages:
    """Holds every image download until `release`: the images load after the thread is drawn,
    as a slow network makes them."""

    def __init__(self) -> None:
        self.held: list[Route] = []
        self.holding = True

    def __call__(self, route: Route) -> None:
        if self.holding and route.request.method == "GET":
            self.held.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        self.holding = False
        for route in self.held:
            route.continue_()
        self.held.clear()


def a_conversation_with_images(browser: Browser, site_url: str) -> tuple[Any, Any]:
    page, frame = open_widget(browser, site_url)
    for i in range(6):
        frame.fill("#body", f"Question number {i}: about the grinder")
        frame.press("#body", "Enter")
    for name in ("front.png", "back.png"):
        frame.set_input_files("#file", files=[{"name": name, "mimeType": "image/png",
                                               "buffer": tall_png()}])
        expect(frame.locator(f".files img[alt='{name}']")).to_be_attached()
    frame.fill("#body", "And that is the last message")
    frame.press("#body", "Enter")
    expect(frame.locator(".msg.mine:not(.pending) p").last).to_have_text(
        "And that is the last message")
    return page, frame

# The reader scrolls to the top, and is there a frame later (after their scroll's event). A
# render in the very frame of the scroll, before its event, may still take it back to the
# bottom (a live frame on a loaded machine): the reader then scrolls again, as a person would.
SCROLLED_TO_TOP = """() => {
  const thread = document.getElementById("thread");
  const stayed = thread.scrollTop === 0 && window.p2sScrolledUp === true;
  if (thread.scrollTop !== 0) thread.scrollTop = 0;
  window.p2sScrolledUp = true;
  return stayed;
}"""


def test_the_widget_thread_stays_at_the_newest_message_when_images_load_late(
        browser: Browser, demo: Any, live: str, settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    page, _frame = a_conversation_with_images(browser, site_url)

    held = HeldImages()
    page.context.route("**/widget/api/*/attachments/*", held)
    page.reload()
    frame = click_launcher(page)
    thread = frame.locator("#thread")
    expect(frame.locator(".msg p").last).to_have_text("And that is the last message")
    frame.wait_for_function("() => document.querySelectorAll('#thread .files img').length == 2")
    assert not frame.evaluate(IMAGES_LOADED, "#thread .files img")  # still on their way
    frame.wait_for_function(THREAD_AT_BOTTOM)
    held.release()
    frame.wait_for_function(IMAGES_LOADED, arg="#thread .files img")
    frame.wait_for_function(THREAD_AT_BOTTOM)  # not pushed out of view by the images

    # A reader who scrolled up to read back stays where they are when a reply arrives.
    frame.wait_for_function(SCROLLED_TO_TOP)
    alice.locator(".conv").first.click()
    alice.click("#claim")
    alice.fill("#reply", "Looking at your photos now")
    alice.press("#reply", "Enter")
    expect(frame.locator(".msg.theirs p").last).to_have_text("Looking at your photos now")
    assert thread.evaluate("(el) => el.scrollTop") == 0

    # Writing again brings the visitor back to the newest message.
    frame.fill("#body", "Thanks")
    frame.press("#body", "Enter")
    expect(frame.locator(".msg.mine p").last).to_have_text("Thanks")
    frame.wait_for_function(THREAD_AT_BOTTOM)


def test_the_console_thread_stays_at_the_newest_message_when_images_load_late(
        browser: Browser, demo: Any, live: str, settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)
    expect(alice.locator("#live")).to_have_text("live")
    _page, frame = a_conversation_with_images(browser, site_url)

    held = HeldImages()
    alice.context.route("**/attachments/*/*", held)
    alice.locator(".conv", has_text="And that is the last message").click()
    thread = alice.locator("#thread")
    expect(alice.locator("#thread .msg p").last).to_have_text("And that is the last message")
    alice.wait_for_function("() => document.querySelectorAll('#thread .files img').length == 2")
    assert not alice.evaluate(IMAGES_LOADED, "#thread .files img")  # still on their way
    alice.wait_for_function(THREAD_AT_BOTTOM)
    held.release()
    alice.wait_for_function(IMAGES_LOADED, arg="#thread .files img")
    alice.wait_for_function(THREAD_AT_BOTTOM)  # not pushed out of view by the images

    # The operator scrolls up to read back: a new message from the visitor leaves them there.
    alice.wait_for_function(SCROLLED_TO_TOP)
    frame.fill("#body", "Are you there?")
    frame.press("#body", "Enter")
    expect(alice.locator("#thread .msg p").last).to_have_text("Are you there?")
    assert thread.evaluate("(el) => el.scrollTop") == 0

    # Their own reply brings them back to the newest message.
    alice.click("#claim")
    alice.fill("#reply", "Yes, here")
    alice.press("#reply", "Enter")
    expect(alice.locator("#thread .msg p").last).to_have_text("Yes, here")
    alice.wait_for_function(f"() => ({AT_BOTTOM})(document.getElementById('thread'))")
