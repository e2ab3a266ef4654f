"""The widget shows and downloads a visitor's files through signed links (SPEC N8): no URL the
browser asks for carries the visitor token, and an image whose link has expired by the time
it is fetched gets a fresh one."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Route, expect

from ..test_attachment_links import PDF
from ..test_attachments import png_bytes
from .conftest import login
from .test_live_chat import open_widget

IMAGE_SHOWN = ("() => { const i = document.querySelector('#thread .files img');"
               " return i && i.complete && i.naturalWidth > 0; }")


def test_the_widget_opens_files_by_signed_links_never_by_token(
        browser: Browser, demo: Any, live: str, settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}
    tenant, site_url = demo
    alice = login(browser, live, tenant.operators[0].email)  # someone online: live chat
    expect(alice.locator("#live")).to_have_text("live")
    page, frame = open_widget(browser, site_url)
    asked: list[str] = []
    page.context.on("request", lambda request: asked.append(request.url))

    # The first fetch of the image is answered as an expired link would be.
    expired: list[str] = []

    def expire_first(route: Route) -> None:
        if route.request.method == "GET" and "sig=" in route.request.url and not expired:
            expired.append(route.request.url)
            route.fulfill(status=403, content_type="application/json",
                          body='{"error": {"code": "link_expired", "message": "expired"}}')
        else:
            route.continue_()

    page.context.route("**/widget/api/*/attachments/*", expire_first)
    frame.set_input_files("#file", files=[{"name": "part.png", "mimeType": "image/png",
                                           "buffer": png_bytes()}])
    frame.wait_for_function(IMAGE_SHOWN)
    src = frame.locator("#thread .files img").get_attribute("src") or ""
    assert "?sig=" in src and expired and src not in expired  # a fresh link

    frame.set_input_files("#file", files=[{"name": "q3.pdf", "mimeType": "application/pdf",
                                           "buffer": PDF}])
    with page.expect_download() as downloading:
        frame.locator("#thread .files a", has_text="Download q3.pdf").click()
    download = downloading.value
    assert download.suggested_filename == "q3.pdf"
    assert "?sig=" in download.url

    token = frame.evaluate(f"() => localStorage.getItem('p2s:{tenant.widget.key}:token')")
    assert token and len(token) >= 40
    assert asked and not [url for url in asked if token in url]
