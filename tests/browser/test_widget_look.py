"""The widget's look in a real browser (B3–B5): the open widget on a customer page in light
and dark, left and right, and on a phone, compared with reference images; and the settings
page's live preview following the form before anything is saved.

The references live in tests/browser/reference/. After a deliberate change of the look, run
these tests with UPDATE_REFERENCES=1, look at the new images, and commit them."""

from __future__ import annotations

import os
import re
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.utils.datastructures import MultiValueDict
from playwright.sync_api import Browser, Page, expect

from plug2support.ops.demo_site import start_demo_site
from plug2support.widgets.actions import do_add_card, do_save_look
from plug2support.widgets.forms import CardForm, LookForm
from plug2support.widgets.views import snippet_for

from ..conftest import Tenant, free_port, make_tenant
from ..test_widget_look import png
from .conftest import ARTIFACTS, login, widget_frame

REFERENCES = Path(__file__).resolve().parent / "reference"
# A pixel "differs" when a channel moves by more than this; at most this share may differ
# (anti-aliasing of text and the focus ring can shift a little between runs).
PIXEL_THRESHOLD = 48
MAX_DIFFERING = 0.004

HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; font: 16px/1.5 Georgia, serif; background: #faf7f2; color: #3b2f2f; }
header { background: #6b4226; color: #fff; padding: 24px 32px; } main { padding: 24px 32px; }
</style></head><body><header><h1>Maple Coffee Roasters</h1></header>
<main><p>Small-batch coffee, roasted every Tuesday.</p></main>{snippet}</body></html>"""


def compare_with_reference(page: Page, name: str) -> None:
    from PIL import Image, ImageChops

    shot = page.screenshot(animations="disabled", caret="hide")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(shot)
    reference = REFERENCES / f"{name}.png"
    if os.environ.get("UPDATE_REFERENCES"):
        REFERENCES.mkdir(exist_ok=True)
        reference.write_bytes(shot)
    assert reference.exists(), f"no reference image {reference}: see this module's docstring"
    taken = Image.open(BytesIO(shot)).convert("RGB")
    expected = Image.open(reference).convert("RGB")
    assert taken.size == expected.size
    diff = ImageChops.difference(taken, expected).convert("L").point(
        lambda v: 255 if v > PIXEL_THRESHOLD else 0)
    differing = diff.histogram()[255] / (taken.width * taken.height)
    assert differing <= MAX_DIFFERING, (
        f"{name}: {differing:.2%} of pixels differ from the reference "
        f"(see test-artifacts/{name}.png)")


def styled(tenant: Tenant, **look: Any) -> None:
    widget = tenant.widget
    data = {"title": "Hi! How can we help?", "alignment": "right", "spacing_side": 20,
            "spacing_bottom": 20, "appearance": "light", "brand_color": "#0f766e", **look}
    files: MultiValueDict[str, UploadedFile] = MultiValueDict({
        "launcher_logo_file": [SimpleUploadedFile("l.png", png(20, 20, (250, 250, 250)))],
        "brand_logo_file": [SimpleUploadedFile("b.png", png(80, 20, (255, 200, 0)))]})
    form = LookForm(data, files, instance=widget)
    assert form.is_valid(), form.errors
    do_save_look(widget, form)
    card = CardForm({"title": "New: the winter blend",
                     "description": "Roasted this Tuesday, with notes of cocoa and orange.",
                     "link": "https://maple.example/winter"},
                    MultiValueDict({"image_file": [
                        SimpleUploadedFile("c.png", png(56, 56, (107, 66, 38)))]}))
    assert card.is_valid(), card.errors
    do_add_card(widget, card)


def open_on_host(browser: Browser, tenant: Tenant, *, width: int = 1280, height: int = 800,
                 launcher: tuple[int, int]) -> tuple[Page, Any, Any]:
    port = free_port()
    snippet = snippet_for(tenant.widget)
    site = start_demo_site("127.0.0.1", port, snippet,
                           page=HOST_PAGE.replace("{snippet}", snippet).encode())
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_function("() => document.querySelector('[data-plug2support]') !== null")
    page.mouse.click(*launcher)  # the launcher lives in a closed shadow root
    frame = widget_frame(page)
    expect(frame.locator("#status")).to_have_text("We reply as soon as we can")
    expect(frame.locator(".cards li")).to_have_count(1)
    frame.wait_for_function("() => [...document.images].every((i) => i.hidden || i.complete)")
    return page, frame, site


@pytest.mark.parametrize(("appearance", "alignment"), [
    ("light", "right"), ("light", "left"), ("dark", "right"), ("dark", "left")])
def test_the_open_widget_looks_as_set(browser: Browser, live: str, transactional_db: Any,
                                      appearance: str, alignment: str) -> None:
    tenant = make_tenant("Maple")
    styled(tenant, appearance=appearance, alignment=alignment,
           spacing_side=32 if alignment == "left" else 20)
    login(browser, live, tenant.operators[0].email)  # someone online: live chat
    x = 32 + 28 if alignment == "left" else 1280 - 20 - 28
    page, frame, site = open_on_host(browser, tenant, launcher=(x, 800 - 20 - 28))
    try:
        frame.locator("#body").blur()
        compare_with_reference(page, f"widget-{appearance}-{alignment}")
    finally:
        site.shutdown()


def test_on_a_phone_the_open_widget_fills_the_screen(browser: Browser, live: str,
                                                     transactional_db: Any) -> None:
    tenant = make_tenant("Maple")
    styled(tenant)
    login(browser, live, tenant.operators[0].email)
    page, frame, site = open_on_host(browser, tenant, width=390, height=844,
                                     launcher=(390 - 20 - 28, 844 - 20 - 28))
    try:
        box = page.evaluate("""() => {
            const r = document.querySelector('[data-plug2support]');
            return [window.innerWidth, window.innerHeight]; }""")
        frame_box = frame.frame_element().bounding_box()
        assert frame_box is not None
        assert (round(frame_box["width"]), round(frame_box["height"])) == tuple(box)
        frame.locator("#body").blur()
        compare_with_reference(page, "widget-phone")
        # The on-screen keyboard takes the lower part of the screen: the chat shrinks to
        # what is left, and the composer stays in sight.
        page.set_viewport_size({"width": 390, "height": 480})
        page.wait_for_function("() => window.visualViewport.height === 480")
        expect(frame.locator("#body")).to_be_in_viewport()
        composer = frame.locator("#composer").bounding_box()
        frame_box = frame.frame_element().bounding_box()
        assert composer is not None and frame_box is not None
        assert round(frame_box["height"]) == 480
    finally:
        site.shutdown()


def test_the_settings_preview_follows_the_form_before_saving(
        browser: Browser, live: str, transactional_db: Any) -> None:
    tenant = make_tenant("Maple")
    page = login(browser, live, tenant.owner.email)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live}/settings/widgets/{tenant.widget.pk}/")
    preview = page.frame_locator("#preview-frame")
    expect(preview.locator("#chat-title")).to_have_text("Hi! How can we help?")
    page.fill("#id_title", "Welcome to Maple!")
    expect(preview.locator("#chat-title")).to_have_text("Welcome to Maple!")
    page.fill("#id_brand_color", "#facc15")  # yellow: the text turns black
    head = preview.locator(".chat-head")
    expect(head).to_have_css("background-color", "rgb(250, 204, 21)")
    expect(head).to_have_css("color", "rgb(0, 0, 0)")
    expect(page.locator("#contrast-note")).to_contain_text("Text on this colour is black")
    page.check("input[name=appearance][value=dark]")
    expect(preview.locator("html")).to_have_class("dark")
    page.check("input[name=alignment][value=left]")
    expect(page.locator("#preview-launcher")).to_have_css("left", "10px")
    # The Search switch shows the search box at once, and hides it again.
    expect(preview.locator("#search-q")).to_be_hidden()
    page.check("#id_search_enabled")
    expect(preview.locator("#search-q")).to_be_visible()
    page.uncheck("#id_search_enabled")
    expect(preview.locator("#search-q")).to_be_hidden()
    # The composer's placeholder stays on one line inside its box (not cut by the edge).
    box = preview.locator("#body")
    assert box.evaluate("(el) => getComputedStyle(el, '::placeholder').whiteSpace") == "nowrap"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-settings-preview.png"), full_page=True)
    assert errors == []
    # Nothing was saved.
    tenant.widget.refresh_from_db()
    assert (tenant.widget.title, tenant.widget.appearance) == ("Hi! How can we help?", "light")


# The composer's placeholder, measured in the text box's own font, against the room inside
# its padding; and every part of the composer inside it (nothing past the frame's edge).
PLACEHOLDER_ROOM = """(box) => {
  const style = getComputedStyle(box);
  const pen = document.createElement('canvas').getContext('2d');
  pen.font = style.font;
  const composer = box.closest('form').getBoundingClientRect();
  const outside = [...box.closest('form').children]
    .filter((el) => el.offsetParent && !el.classList.contains('hp'))
    .map((el) => el.getBoundingClientRect())
    .filter((r) => r.width && (r.left < composer.left || r.right > composer.right));
  return {text: pen.measureText(box.placeholder).width,
          room: box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
          outside: outside.length};
}"""


@pytest.mark.parametrize(("width", "height"), [(1366, 900), (390, 844)])
def test_the_settings_preview_shows_the_whole_composer_placeholder(
        browser: Browser, live: str, transactional_db: Any, width: int, height: int) -> None:
    tenant = make_tenant("Maple")
    page = login(browser, live, tenant.owner.email)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live}/settings/widgets/{tenant.widget.pk}/")
    preview = page.frame_locator("#preview-frame")
    expect(preview.locator("#chat-title")).to_have_text("Hi! How can we help?")
    page.locator(".preview").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".preview").screenshot(path=str(ARTIFACTS / f"widget-preview-{width}.png"))
    measured = preview.locator("#body").evaluate(PLACEHOLDER_ROOM)
    assert measured["text"] <= measured["room"], measured  # "Write a message…", whole
    assert measured["outside"] == 0
    # The preview frame lies inside its box, and the page does not scroll sideways.
    site, frame = page.locator(".preview-site").bounding_box(), \
        page.locator("#preview-frame").bounding_box()
    assert site is not None and frame is not None
    assert site["x"] <= frame["x"] and frame["x"] + frame["width"] <= site["x"] + site["width"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


RTL_PAGE = """<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"></head>
<body><h1>متجر القهوة</h1>{snippet}</body></html>"""


def test_a_right_to_left_page_gets_a_right_to_left_chat_and_the_keyboard_works(
        browser: Browser, live: str, transactional_db: Any) -> None:
    tenant = make_tenant("Maple")
    login(browser, live, tenant.operators[0].email)
    port = free_port()
    snippet = snippet_for(tenant.widget)
    site = start_demo_site("127.0.0.1", port, snippet,
                           page=RTL_PAGE.replace("{snippet}", snippet).encode())
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => document.querySelector('[data-plug2support]') !== null")
        # Keyboard only: the launcher is reachable with Tab, opens with Enter, and the
        # composer has the focus; Escape closes and gives the focus back to the launcher.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "PLUG2SUPPORT-WIDGET"
        page.keyboard.press("Enter")
        frame = widget_frame(page)
        expect(frame.locator("#status")).to_have_text("We reply as soon as we can")
        assert frame.evaluate("document.documentElement.dir") == "rtl"
        expect(frame.locator("#body")).to_be_focused()
        page.keyboard.type("مرحبا")
        page.keyboard.press("Enter")
        stored = frame.locator(".msg.mine:not(.pending)")
        expect(stored).to_have_text(re.compile("مرحبا"))
        # Right to left: the visitor's own message sits on the left side (measured in one
        # go inside the frame: the thread re-renders as the message is acknowledged).
        gaps = frame.evaluate("""() => {
            const m = document.querySelector('.msg.mine').getBoundingClientRect();
            const t = document.getElementById('thread').getBoundingClientRect();
            return [m.left - t.left, t.right - m.right]; }""")
        assert gaps[0] < gaps[1]
        page.keyboard.press("Escape")
        expect(page.locator("[data-plug2support]")).to_be_focused()
        assert frame.frame_element().is_hidden()
    finally:
        site.shutdown()
