"""The installable console and Web Push in Chromium (M11): the manifest and its icons, the
service worker controlling the console and its offline page, a cache that holds the static
shell only, the push control's states, and the `focus` frames the inbox sends.

Headless Chromium has no push service (pushManager.subscribe cannot reach one), so the
control is shown refusing clearly, and the server's side of subscribing is driven by a real
POST from the page with a subscription of the test's own, as push.js sends it."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any

from django.test import Client
from PIL import Image
from playwright.sync_api import Browser, Page

from plug2support.conversations.models import Conversation
from plug2support.push.models import PushSubscription
from plug2support.push.views import endpoint_hash
from plug2support.realtime.models import ConsoleConnection

from ..conftest import PASSWORD, Tenant
from ..test_push import browser_keys
from .conftest import login, screenshot
from .test_console_csp import a_conversation

CACHED = """async () => {
  const found = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    found[name] = (await cache.keys()).map((r) => new URL(r.url).pathname + new URL(r.url).search);
  }
  return found;
}"""


def eventually(check: Callable[[], bool], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


def controlled(page: Page) -> None:
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def test_the_manifest_is_linked_valid_and_its_icons_are_served(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page = login(browser, live, acme.operators[0].email)
    href = page.eval_on_selector("link[rel=manifest]", "l => l.href")
    assert href == f"{live}/manifest.webmanifest"
    # Fetched as the browser fetches a manifest: without cookies.
    answer = page.request.get(href, headers={"Cookie": ""})
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(answer.text())
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/inbox/"
    assert manifest["name"] and manifest["short_name"] and manifest["theme_color"]
    sizes = {}
    for icon in manifest["icons"]:
        image = page.request.get(f"{live}{icon['src']}")
        assert image.status == 200 and image.headers["content-type"] == "image/png"
        width, height = Image.open(io.BytesIO(image.body())).size
        assert f"{width}x{height}" == icon["sizes"]
        sizes[(icon["sizes"], icon["purpose"])] = icon["src"]
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes.keys()
    # Chromium's own verdict: the manifest parses cleanly and the console is installable.
    controlled(page)
    cdp = page.context.new_cdp_session(page)
    parsed = cdp.send("Page.getAppManifest")
    assert parsed["url"] == href and parsed["errors"] == [], parsed["errors"]
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are off the record, where nothing installs; nothing else stands
    # in the way (icons, display, start URL, scope, service worker).
    assert [e["errorId"] for e in errors] == ["in-incognito"], errors


def test_logging_out_still_logs_out_with_the_worker_in_place(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    """install.js holds the logout form back to end push on this browser first (no
    subscription here: headless Chromium cannot make one), then sends it."""
    acme, _ = tenants
    page = login(browser, live, acme.operators[0].email)
    controlled(page)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live}/accounts/login/")
    page.goto(f"{live}/inbox/")
    page.wait_for_url(f"{live}/accounts/login/?next=/inbox/")


def test_offline_the_console_shows_the_offline_page_and_the_cache_holds_no_private_answer(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    page = login(browser, live, acme.operators[0].email)
    controlled(page)
    sw = page.request.get(f"{live}/sw.js")
    assert sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["cache-control"] == "no-cache"
    # Private answers pass through the worker while online: a conversation's page, its
    # sidebar JSON, the inbox list.
    page.goto(f"{live}/inbox/{conversation.pk}/")
    page.get_by_text("Hello, https://example.com").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("fetch('/inbox/list').then((r) => r.status)") == 200

    page.context.set_offline(True)
    page.goto(f"{live}/inbox/{conversation.pk}/")
    page.get_by_role("heading", name="You are offline").wait_for()
    assert "reconnects when the network is back" in page.get_by_role("status").inner_text()
    assert "Hello" not in page.content()
    screenshot(page, "push-offline")
    cached = page.evaluate(CACHED)
    [name] = cached.keys()
    assert name.startswith("p2s-shell-")
    urls = cached[name]
    assert "/offline/" in urls and "/static/console/app.css" in urls
    assert "/static/console/icons/icon-192.png" in urls
    private = [u for u in urls if not (u.startswith("/static/") or u == "/offline/")]
    assert private == [], private

    # Back online, the offline page goes back to the page it stood for by itself.
    page.context.set_offline(False)
    page.get_by_text("Hello, https://example.com").first.wait_for()
    assert page.url == f"{live}/inbox/{conversation.pk}/"


def test_the_push_control_says_when_this_browser_cannot_subscribe_and_when_blocked(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    page = login(browser, live, acme.operators[0].email)
    inbox_control = page.locator(".alert-controls [data-push-control]")
    # Nothing subscribed yet: off, with the button to turn it on.
    eventually(lambda: inbox_control.get_attribute("data-push-state") == "off", "off in the inbox")
    assert inbox_control.get_by_role("button").inner_text() == "Enable push notifications"
    screenshot(page, "push-inbox-control")

    page.context.grant_permissions(["notifications"], origin=live)
    page.goto(f"{live}/settings/alerts/")
    control = page.locator(".push-card [data-push-control]")
    button = control.get_by_role("button", name="Enable push notifications")
    button.click()
    # Headless Chromium has no push service: the subscription fails and the page says so.
    eventually(lambda: control.get_attribute("data-push-state") == "unavailable",
               "the control shows that subscribing is unavailable", seconds=30)
    assert "could not reach its push service" in control.get_by_role("status").inner_text()
    assert not PushSubscription.objects.exists()
    screenshot(page, "push-alerts-unavailable")
    page.set_viewport_size({"width": 360, "height": 740})
    # The four channels' table stays on screen: its last checkbox is inside the page.
    last = page.locator("#alert-customer_reply-push").bounding_box()
    assert last is not None and last["x"] + last["width"] <= 360 - 8
    page.locator(".alert-settings").scroll_into_view_if_needed()
    screenshot(page, "push-alerts-table-phone")
    box = control.get_by_role("button").bounding_box()
    assert box is not None and box["height"] >= 44  # a phone's tap target
    control.scroll_into_view_if_needed()
    screenshot(page, "push-alerts-phone")

    blocked = browser.new_context().new_page()
    blocked.goto(f"{live}/accounts/login/")
    # The person said no in the browser's prompt (Playwright can only grant: Chromium's own
    # protocol sets "denied" for this context).
    target = blocked.context.new_cdp_session(blocked).send("Target.getTargetInfo")
    browser.new_browser_cdp_session().send("Browser.setPermission", {
        "permission": {"name": "notifications"}, "setting": "denied", "origin": live,
        "browserContextId": target["targetInfo"]["browserContextId"]})
    blocked.fill("input[name=username]", acme.operators[1].email)
    blocked.fill("input[name=password]", PASSWORD)
    blocked.click("button[type=submit]")
    blocked.wait_for_url(f"{live}/inbox/")
    blocked.goto(f"{live}/settings/alerts/")
    control = blocked.locator(".push-card [data-push-control]")
    eventually(lambda: control.get_attribute("data-push-state") == "blocked", "blocked")
    assert "blocked for this site" in control.get_by_role("status").inner_text()
    assert control.get_by_role("button").count() == 0  # nothing to press: the browser decides


def test_a_subscription_posted_from_the_page_is_saved_for_its_member_only(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant], settings: Any) -> None:
    settings.PUSH_HTTP_HOSTS = ["127.0.0.1"]
    acme, globex = tenants
    page = login(browser, live, acme.operators[0].email)
    _private, p256dh, _auth, auth = browser_keys()
    endpoint = "http://127.0.0.1:9/push/this-browser"
    subscription = {"endpoint": endpoint,
                    "expirationTime": None, "keys": {"p256dh": p256dh, "auth": auth}}
    post = """async ([subscription, withToken]) => {
      const token = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/)[1];
      const headers = { "Content-Type": "application/json" };
      if (withToken) headers["X-CSRFToken"] = token;
      const r = await fetch("/console/push/subscription", { method: "POST", headers,
        body: JSON.stringify(subscription), credentials: "same-origin" });
      return [r.status, await r.text()];
    }"""
    status, _body = page.evaluate(post, [subscription, False])
    assert status == 403  # no CSRF token: refused, nothing stored
    assert not PushSubscription.objects.exists()
    status, body = page.evaluate(post, [subscription, True])
    assert status == 201, body
    [row] = PushSubscription.objects.all()
    assert (row.company_id, row.user_id, row.endpoint) == (
        acme.company.pk, acme.operators[0].pk, endpoint)
    mine = page.evaluate("fetch('/console/push/subscription').then((r) => r.json())")
    assert mine["endpoints"] == [endpoint_hash(endpoint)]
    other = login(browser, live, globex.operators[0].email)
    theirs = other.evaluate("fetch('/console/push/subscription').then((r) => r.json())")
    assert theirs["endpoints"] == []


def another_conversation(tenant: Tenant, body: str) -> Conversation:
    """A second visitor's conversation (a_conversation makes the widget's first)."""
    client = Client()
    key = tenant.widget.key
    token = client.post(f"/widget/api/{key}/session", "{}",
                        content_type="application/json").json()["token"]
    client.post(f"/widget/api/{key}/messages", json.dumps({"client_id": "m-2", "body": body}),
                content_type="application/json", headers={"Authorization": f"Bearer {token}"})
    return Conversation.objects.filter(widget=tenant.widget).latest("pk")


def focus_of(tenant: Tenant, user_index: int = 0) -> Any:
    row = ConsoleConnection.objects.filter(
        membership__user=tenant.operators[user_index]).first()
    return row.focused_conversation if row else "no connection"


def test_the_inbox_tells_the_server_which_conversation_it_shows_while_focused(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, _ = tenants
    conversation = a_conversation(acme)
    page = login(browser, live, acme.operators[0].email)
    page.wait_for_selector("#live.open")
    eventually(lambda: focus_of(acme) is None, "connected, showing no conversation")
    page.goto(f"{live}/inbox/{conversation.pk}/")
    page.wait_for_selector("#live.open")
    eventually(lambda: focus_of(acme) == conversation.pk, "focused on the open conversation")

    # The window loses the focus to another one in front. Playwright keeps every page
    # "focused" by emulation; with that off for the inbox, the browser's real focus — on the
    # page brought to the front — counts, and the inbox gets a real blur event.
    in_front = page.context.new_page()
    in_front.goto(f"{live}/offline/")
    in_front.bring_to_front()
    page.context.new_cdp_session(page).send("Emulation.setFocusEmulationEnabled",
                                            {"enabled": False})
    eventually(lambda: focus_of(acme) is None, "not focused once another window has the focus")
    in_front.close()
    page.bring_to_front()
    eventually(lambda: focus_of(acme) == conversation.pk, "focused again")

    # Another conversation opened from the list (same page, same socket): the focus follows.
    other = another_conversation(acme, "Second question")
    page.locator(f'a.conv[href="/inbox/{other.pk}/"]').click()
    page.get_by_text("Second question").last.wait_for()
    eventually(lambda: focus_of(acme) == other.pk, "focused on the other conversation")


def test_a_push_shows_its_notification_with_a_url_of_ours_only(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    """The worker's push handler, fed by Chromium's own protocol (what DevTools' "Push"
    button does): the payload push/sending.py encrypts, as the browser decrypts it."""
    acme, _ = tenants
    page = login(browser, live, acme.operators[0].email)
    page.context.grant_permissions(["notifications"], origin=live)
    controlled(page)
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 15
    # Protocol events arrive while Playwright runs its loop: waited for in the page, not
    # in a sleep.
    while not any(r["scopeURL"] == f"{live}/" for r in registrations):
        assert time.monotonic() < deadline, "the worker's registration was not announced"
        page.wait_for_timeout(50)
    registration = next(r for r in registrations if r["scopeURL"] == f"{live}/")

    shown = """async () => (await (await navigator.serviceWorker.ready).getNotifications())
      .map((n) => ({ title: n.title, tag: n.tag, url: n.data.url, icon: n.icon }))"""
    for payload in [{"title": "Ann mentioned you in a note", "url": "/inbox/7/", "kind": "mention"},
                    {"title": "Elsewhere", "url": "https://evil.test/x", "kind": "mention"}]:
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": live, "registrationId": registration["registrationId"],
            "data": json.dumps(payload)})
    eventually(lambda: len(page.evaluate(shown)) == 2, "both notifications shown")
    by_title = {n["title"]: n for n in page.evaluate(shown)}
    assert by_title["Ann mentioned you in a note"]["tag"] == "p2s-mention-/inbox/7/"
    assert by_title["Ann mentioned you in a note"]["url"] == "/inbox/7/"
    assert by_title["Ann mentioned you in a note"]["icon"].endswith("/icons/icon-192.png")
    assert by_title["Elsewhere"]["url"] == "/inbox/"  # another origin's URL never opens
