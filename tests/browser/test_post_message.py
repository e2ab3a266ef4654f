"""The frame and the page talk by postMessage only with each other (SPEC N8): the frame posts
operator text and `close` only to the page origin it was opened for, never to "*", and hears
only its parent window at that origin; the loader hears only its own frame at our origin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from plug2support.ops.demo_site import start_demo_site

from ..conftest import WS, Tenant, free_port, make_tenant, open_operator
from .test_live_chat import click_launcher, open_widget

LIVE_CHAT = "#status:text('We reply as soon as we can')"
# Every message the page hears, with the id of the iframe it came from ("" for another).
RECORD = """<script>
window.heard = [];
addEventListener("message", (e) => {
  const from = [...document.querySelectorAll("iframe")].find((f) => f.contentWindow === e.source);
  heard.push({ from: from ? from.id : "", origin: e.origin, data: e.data });
});
</script>"""


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str], str]], str]]:
    """serve(body_for) → the origin of a new page of ours, on its own origin, whose body is
    body_for(that origin) and which records what it hears (RECORD)."""
    servers: list[Any] = []

    def serve_page(body_for: Callable[[str], str]) -> str:
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        page = f"<!doctype html><html><body>{body_for(origin)}{RECORD}</body></html>"
        servers.append(start_demo_site("127.0.0.1", port, "", page=page.encode()))
        return origin

    yield serve_page
    for server in servers:
        server.shutdown()


def chat_frame(live: str, tenant: Tenant, frame_id: str, page_origin: str) -> str:
    return (f'<iframe id="{frame_id}" name="{frame_id}" title="chat" '
            f'src="{live}/widget/frame/{tenant.widget.key}/#origin={page_origin}"></iframe>')


def frame_named(page: Page, name: str) -> Frame:
    for _ in range(200):
        frame = page.frame(name=name)
        if frame is not None and frame.url != "about:blank":
            return frame
        page.wait_for_timeout(25)  # Playwright learns of a new frame a moment after it loads
    raise AssertionError(f"no frame named {name}")


@pytest.fixture
def operator_of(live: str) -> Iterator[Callable[[Tenant], WS]]:
    """An operator's socket (online: the widget offers live chat), closed after the test."""
    opened: list[WS] = []

    def open_for(tenant: Tenant) -> WS:
        opened.append(open_operator(live, tenant.operators[0]))
        return opened[-1]

    yield open_for
    for ws in opened:
        ws.close()


def start_chat(frame: Frame, operator: WS) -> int:
    """The visitor writes; the operator follows the conversation. Its id."""
    frame.wait_for_selector(LIVE_CHAT)
    frame.fill("#body", "hello")
    frame.press("#body", "Enter")
    summary = operator.recv_until(lambda f: f["type"] == "conversation")
    conversation = int(summary["conversation"]["id"])
    operator.request({"type": "subscribe", "conversation": conversation, "after": 0})
    return conversation


def reply(operator: WS, conversation: int, body: str) -> int:
    ack = operator.request({"type": "message", "conversation": conversation,
                            "client_id": f"op-{body}", "body": body})
    assert ack["type"] == "ack", ack
    return int(ack["seq"])


def visitor_receipt(operator: WS, delivered: int) -> dict[str, Any]:
    return operator.recv_until(lambda f: f["type"] == "receipt"
                               and f["visitor_delivered"] >= delivered)


def test_the_frame_hears_only_its_parent_page_at_the_origin_it_was_opened_for(
        browser: Browser, live: str, serve: Any, operator_of: Any) -> None:
    foreign = serve(lambda _origin: "<p>another site</p>")
    tenant = make_tenant("Maple")  # any origin may embed it
    operator = operator_of(tenant)
    origin = serve(lambda origin: (
        chat_frame(live, tenant, "chat", origin)
        + '<iframe id="sibling" name="sibling" title="sibling" srcdoc="<p>x</p>"></iframe>'
        + f'<iframe id="foreign" name="foreign" title="foreign" src="{foreign}/"></iframe>'))
    page = browser.new_context().new_page()
    page.goto(origin)
    chat = frame_named(page, "chat")
    conversation = start_chat(chat, operator)
    first = reply(operator, conversation, "one")
    assert visitor_receipt(operator, first)["visitor_read"] >= first  # open: read at once

    # "closed" from another window of the page (same origin), and from another site's frame.
    for name in ("sibling", "foreign"):
        frame_named(page, name).evaluate("() => parent.frames[0].postMessage({p2s: 'closed'}, '*')")
    second = reply(operator, conversation, "two")
    expect(chat.locator(".msg.theirs p").last).to_have_text("two")
    assert visitor_receipt(operator, second)["visitor_read"] == second, \
        "a message from another window closed the chat"

    # The parent page itself is heard: now closed, the next reply is delivered, not read.
    page.evaluate("(base) => frames[0].postMessage({p2s: 'closed'}, base)", live)
    third = reply(operator, conversation, "three")
    receipt = visitor_receipt(operator, third)
    assert receipt["visitor_read"] == second


def test_the_frame_posts_only_to_the_page_origin_it_was_opened_for(
        browser: Browser, live: str, serve: Any, operator_of: Any) -> None:
    other_site = f"http://127.0.0.1:{free_port()}"
    tenant = make_tenant("Maple")
    operator = operator_of(tenant)
    origin = serve(lambda origin: chat_frame(live, tenant, "honest", origin))
    # The widget lists this page and another site: the browser shows the frame on both.
    tenant.widget.allowed_origins = f"{origin}\n{other_site}"
    tenant.widget.save()
    page = browser.new_context().new_page()
    page.goto(origin)
    honest = frame_named(page, "honest")
    conversation = start_chat(honest, operator)
    # Frames of the same visitor told they are on another page: the other listed site, an
    # unlisted one, and "*".
    lying = {"other": other_site, "unlisted": "http://127.0.0.1:9", "star": "*"}
    for name, claimed in lying.items():
        page.evaluate("(html) => document.body.insertAdjacentHTML('beforeend', html)",
                      chat_frame(live, tenant, name, claimed.replace("*", "%2A")))
        expect(frame_named(page, name).locator(".msg.mine p").first).to_have_text("hello")
    reply(operator, conversation, "the secret reply")
    for name in ("honest", *lying):
        expect(frame_named(page, name).locator(".msg.theirs p").last).to_have_text(
            "the secret reply")
    for name in lying:
        frame_named(page, name).press("#body", "Escape")
    honest.press("#body", "Escape")  # posted last: once it is heard, the others would be
    page.wait_for_function("() => heard.some((m) => m.data.p2s === 'close')")
    heard = page.evaluate("() => heard")
    assert [(m["from"], m["data"]["p2s"]) for m in heard] == [("honest", "unread"),
                                                              ("honest", "close")]
    assert heard[0]["data"]["message"]["body"] == "the secret reply"
    assert {m["origin"] for m in heard} == {live}


def test_the_loader_hears_only_its_own_frame_at_our_origin(
        browser: Browser, demo: Any, live: str, operator_of: Any) -> None:
    tenant, site_url = demo
    operator = operator_of(tenant)
    page, frame = open_widget(browser, site_url)
    page.evaluate("""() => { window.events = [];
      Plug2Support.on('message', (m) => events.push('message:' + m.body));
      Plug2Support.on('closed', () => events.push('closed')); }""")
    conversation = start_chat(frame, operator)
    # The page itself, another frame of the page, and a frame of our origin that is not the
    # loader's (its own `close` goes to this page's origin) all say "close" and "unread".
    page.evaluate("""() => {
      postMessage({p2s: 'close'}, '*');
      postMessage({p2s: 'unread', message: {body: 'from the page', author: null}}, '*');
    }""")
    page.evaluate("""() => new Promise((done) => {
      const sibling = document.createElement('iframe');
      sibling.name = 'sibling';
      sibling.srcdoc = "<script>parent.postMessage({p2s: 'close'}, '*');" +
        "parent.postMessage({p2s: 'unread', message: {body: 'from a sibling'}}, '*')<\\/script>";
      sibling.onload = done;
      document.body.append(sibling);
    })""")
    page.evaluate("""(src) => { const extra = document.createElement('iframe');
      extra.name = 'extra'; extra.src = src; document.body.append(extra); }""",
                  f"{live}/widget/frame/{tenant.widget.key}/#origin={site_url}")
    extra = frame_named(page, "extra")
    extra.wait_for_selector(LIVE_CHAT)
    extra.press("#body", "Escape")

    reply(operator, conversation, "the real reply")
    page.wait_for_function("() => events.includes('message:the real reply')")
    frame.press("#body", "Escape")
    page.wait_for_function("() => events.includes('closed')")
    assert page.evaluate("() => events") == ["message:the real reply", "closed"]


def test_the_loader_posts_to_the_frame_only_once_it_has_loaded(
        browser: Browser, demo: Any, live: str) -> None:
    """A message posted to the frame before it loads goes to its blank first document: the
    browser drops it (and warns that the origins differ). So the loader tells a frame that
    has loaded what it would have missed: `opened` too, not only the identity."""
    tenant, site_url = demo
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    # In every document, the frame's included: what it heard from the page, in order.
    context.add_init_script("""window.heardFromPage = [];
      addEventListener("message", (e) => {
        if (e.data && e.data.p2s) heardFromPage.push(e.data.p2s);
      });""")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(site_url)
    page.wait_for_function("() => window.Plug2Support !== undefined")
    page.evaluate("() => Plug2Support.identify(null)")
    frame = click_launcher(page)
    frame.wait_for_function("() => heardFromPage.includes('identify')")
    frame.wait_for_function("() => heardFromPage.includes('opened')", timeout=5000)
    assert frame.evaluate("() => heardFromPage") == ["identify", "opened"]
    page.evaluate("() => Plug2Support.close()")
    frame.wait_for_function("() => heardFromPage.includes('closed')")
    assert [text for text in console if "postMessage" in text] == []
