"""Browser fixtures: Playwright for Python driving Debian's Chromium (no browser download)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from plug2support.ops.demo_site import start_demo_site
from plug2support.realtime import sockets
from plug2support.realtime.models import ConsoleConnection
from plug2support.widgets.views import snippet_for

from ..conftest import PASSWORD, Tenant, free_port, make_tenant

# Playwright's sync API keeps an event loop in the test thread; the ORM calls the tests make
# there are still plain synchronous calls (Playwright's and pytest-django's documented advice).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# An expectation waits for its event up to 15 s, not Playwright's 5: on the 2-core machines
# the suite runs on, a socket round trip behind a busy server (the PostgreSQL run, CI's
# other work) has taken more than 5 s. It waits for the event; it never sleeps.
expect.set_options(timeout=15_000)

# N6: every page and frame reports what its Content-Security-Policy refused; a test whose
# pages had any refusal fails when it ends (closes_its_pages).
CSP_VIOLATIONS: list[str] = []
REPORT_CSP_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => {
  window.__p2sCspViolation(`${e.effectiveDirective} refused ${e.blockedURI || "inline"} `
    + `at ${e.sourceFile}:${e.lineNumber} (${document.location.href})`);
});"""


def _reporting_csp_violations(browser: Browser) -> None:
    new_context = browser.new_context

    def new_reporting_context(**options: Any) -> Any:
        context = new_context(**options)
        context.expose_binding("__p2sCspViolation",
                               lambda source, text: CSP_VIOLATIONS.append(text))
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        return context

    browser.new_context = new_reporting_context  # type: ignore[method-assign]
    # new_page() makes its context without new_context: give it a reporting one too.
    browser.new_page = lambda **options: new_reporting_context(**options).new_page()  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def browser(live_server_url: str) -> Iterator[Browser]:
    # Depends on the server so it closes first: its pages' sockets then close while the
    # server still runs, and nothing touches the database after the server stopped.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        _reporting_csp_violations(browser)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def closes_its_pages(browser: Browser, live: str) -> Iterator[None]:
    """Each test's pages end with the test, before its data are flushed.

    Set up after `live`, so torn down before it: a page left open goes on beating (the
    visitor's page view, the console's socket) into the next tests, and on PostgreSQL a write
    of its that takes row locks on two tables can deadlock with the flush's TRUNCATE, which
    then fails (seen in CI). After closing, wait for the server to finish what the closed
    sockets left it to do (an operator's presence row is deleted on disconnect)."""
    CSP_VIOLATIONS.clear()
    yield
    for context in browser.contexts:
        context.close()
    refused, CSP_VIOLATIONS[:] = list(CSP_VIOLATIONS), []
    deadline = time.monotonic() + 10
    while sockets._running or ConsoleConnection.objects.exists():
        if time.monotonic() > deadline:
            raise AssertionError("the server still works for the closed pages after 10 s")
        time.sleep(0.02)
    assert refused == [], "the Content-Security-Policy refused:\n" + "\n".join(refused)


@pytest.fixture
def demo(live: str) -> Iterator[tuple[Tenant, str]]:
    """A company whose widget is embedded in a customer site on another origin."""
    port = free_port()
    site_url = f"http://127.0.0.1:{port}"
    tenant = make_tenant("Maple", allowed_origins=site_url)
    make_tenant("Other")
    site = start_demo_site("127.0.0.1", port, snippet_for(tenant.widget))
    yield tenant, site_url
    site.shutdown()


def login(browser: Browser, base: str, email: str, width: int = 1280,
          height: int = 800) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/inbox/")
    return page


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def widget_frame(page: Page) -> Any:
    page.wait_for_function("() => document.querySelector('[data-plug2support]') !== null")
    for _ in range(100):
        frames = [f for f in page.frames if "/widget/frame/" in f.url]
        if frames:
            return frames[0]
        page.wait_for_timeout(50)
    raise AssertionError("the widget frame did not open")
