"""Shared fixtures: two companies for every access test, a real uvicorn server in a thread
(same test database), WebSocket clients, and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from django.conf import settings
from django.test import Client
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from plug2support.accounts.models import Company, Membership, Role, User
from plug2support.billing.models import Subscription
from plug2support.ops.server import SERVER_OPTIONS
from plug2support.widgets.models import Widget

PASSWORD = "a-Long-test-passw0rd"

# The tests run on the var directory's key (lib/secret_key.py); the servers they start as
# subprocesses (`manage.py web`, which refuses to start without SECRET_KEY) get the same one,
# so the sessions the tests make are theirs too.
os.environ.setdefault("SECRET_KEY", settings.SECRET_KEY)

# A Redis server for the tests that need one even on the in-process bus: REDIS_URL, else
# TEST_REDIS_URL (.ci/run sets it for the SQLite pass too).
REDIS = os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS, reason="needs a Redis server: set REDIS_URL or TEST_REDIS_URL (.ci/run sets them)")


@pytest.fixture(autouse=True)
def _fast_settings(settings: Any) -> None:
    # Argon2 is the production hasher (tested in test_accounts); tests hash faster.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
                                  "ENQUEUE_ON_COMMIT": True}}
    # Stored mail is processed at once, in the storing thread, not by a worker's drain
    # (mail/queue.py); test_mail_queue.py runs the drain itself.
    settings.MAIL_PROCESS_AT_ONCE = True


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield


@dataclass
class Tenant:
    company: Company
    owner: User
    operators: list[User]
    widget: Widget

    def membership(self, user: User) -> Membership:
        return Membership.objects.select_related("user", "company").get(
            user=user, company=self.company)


def make_tenant(name: str, operators: int = 2, allowed_origins: str = "") -> Tenant:
    slug = name.lower().replace(" ", "")
    company = Company.objects.create(name=name)
    owner = User.objects.create_user(email=f"owner@{slug}.test", name=f"{name} Owner",
                                     password=PASSWORD)
    Membership.objects.create(user=owner, company=company, role=Role.OWNER)
    ops = []
    for i in range(operators):
        user = User.objects.create_user(email=f"op{i}@{slug}.test", name=f"{name} Op{i}",
                                        password=PASSWORD)
        Membership.objects.create(user=user, company=company, role=Role.OPERATOR)
        ops.append(user)
    widget = Widget.objects.create(company=company, name=f"{name} site",
                                   allowed_origins=allowed_origins)
    if operators:
        # More people than Free allows (H1): on Startup, billed outside the platform (no
        # paid period, so no payment check); tests/test_billing.py sets up its own.
        from plug2support.billing.access import standard_plan, subscription_of

        Subscription.objects.filter(pk=subscription_of(company.pk).pk).update(
            plan=standard_plan("startup"), seats=operators + 1)
    return Tenant(company, owner, ops, widget)


@pytest.fixture
def acme(db: Any) -> Tenant:
    return make_tenant("Acme")


@pytest.fixture
def globex(db: Any) -> Tenant:
    return make_tenant("Globex")


def logged_in_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff_client(user: User) -> Client:
    """Logged in with a session that passed two-factor, as the back office needs (N5)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = logged_in_client(user)
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


# --- a real server --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread(threading.Thread):
    def __init__(self, port: int, **overrides: Any) -> None:
        super().__init__(daemon=True, name="uvicorn")
        # The production options (plug2support/ops/server.py), so tests see what users get;
        # a test of one option (a short ping interval) overrides it.
        config = uvicorn.Config("plug2support.asgi:application", host="127.0.0.1", port=port,
                                log_level="warning", **{**SERVER_OPTIONS, **overrides})
        self.server = uvicorn.Server(config)
        self.frozen_at_startup = 0

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    def wait_started(self) -> None:
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        # The lifespan startup froze the heap (asgi.settle_heap), which in production is the
        # server's own. Here it is the test process's, whose objects (the database wrappers
        # of ended threads among them) must stay collectable: unfreeze, noting the count.
        self.frozen_at_startup = gc.get_freeze_count()
        gc.unfreeze()

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=15)


LIVE_SERVERS: list[ServerThread] = []


def move_hub_to(thread: ServerThread) -> None:
    """The process's hub serves one event loop, as in production (one server per process).
    A test that starts a second server in this process (one option changed) moves the hub
    to that server's loop while it runs, and back to the live server's after."""
    from plug2support.realtime.hub import hub

    if hub.loop is not None and not hub.loop.is_closed():
        asyncio.run_coroutine_threadsafe(hub.stop(), hub.loop).result(timeout=10)
    asyncio.run_coroutine_threadsafe(hub.start(), thread.loop).result(timeout=10)


@pytest.fixture(scope="session")
def live_server_url(django_db_setup: Any) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    thread = ServerThread(port)
    thread.start()
    thread.wait_started()
    LIVE_SERVERS.append(thread)
    yield url
    LIVE_SERVERS.remove(thread)
    thread.stop()


@pytest.fixture
def live(live_server_url: str, transactional_db: Any, settings: Any) -> Iterator[str]:
    """The live server, with data committed so its threads see it."""
    settings.PUBLIC_URL = live_server_url
    yield live_server_url
    settle_live_server()


OPEN_CLIENTS: list[ClientConnection] = []


def settle_live_server() -> None:
    """Before the test's data is flushed: the sockets a test left open are closed, and the
    server's database threads finish what they were doing and close their connections. On
    PostgreSQL a query still running meets the flush's TRUNCATE and one of them is killed as
    a deadlock (the flush, failing the next test)."""
    from plug2support.realtime.dbthreads import close_db_threads

    while OPEN_CLIENTS:
        with contextlib.suppress(Exception):  # already closed, or the server closed it
            OPEN_CLIENTS.pop().close()
    close_db_threads()  # waits for every database thread; the next use makes new ones


@pytest.fixture
def tenants(live: str) -> tuple[Tenant, Tenant]:
    """Two companies with committed data, for tests against the live server."""
    return make_tenant("Acme"), make_tenant("Globex")


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


def ws_connect(base: str, path: str, origin: str | None = None,
               cookie: str | None = None) -> ClientConnection:
    """A plain synchronous client connection, sent with the Origin a browser would send."""
    headers = {"Cookie": cookie} if cookie else None
    conn = connect(ws_url(base, path), origin=Origin(origin or base),
                   additional_headers=headers, legacy=True)
    OPEN_CLIENTS.append(conn)
    return conn


def session_cookie(user: User) -> str:
    client = logged_in_client(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


class WS:
    """A test WebSocket client that reads JSON frames with a deadline (never a sleep)."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        # Frames read while waiting for another one; later reads see them first, in order.
        self.backlog: list[dict[str, Any]] = []

    def send(self, frame: dict[str, Any] | str) -> None:
        self.conn.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 10) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        return json.loads(self.conn.recv(timeout=timeout))  # type: ignore[no-any-return]

    def recv_until(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """The first frame (backlog included) matching `predicate`; the others stay queued."""
        for i, frame in enumerate(self.backlog):
            if predicate(frame):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            raw = self.conn.recv(timeout=max(0.01, deadline - time.monotonic()))
            frame = json.loads(raw)
            if predicate(frame):
                return frame  # type: ignore[no-any-return]
            self.backlog.append(frame)

    def request(self, frame: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        ref = f"r{time.monotonic_ns()}"
        self.send({**frame, "ref": ref})
        return self.recv_until(lambda f: f.get("ref") == ref, timeout)

    def close(self) -> None:
        self.conn.close()


def open_operator(base: str, user: User, origin: str | None = None) -> WS:
    conn = ws_connect(base, "/ws/operator", origin, cookie=session_cookie(user))
    ws = WS(conn)
    assert ws.recv()["type"] == "welcome"
    # Live frames (another operator's presence) may come before the snapshot: kept queued.
    ws.recv_until(lambda f: f["type"] == "inbox")
    return ws


def open_visitor(base: str, widget: Widget, token: str | None = None, after: int = 0,
                 conversation: int | None = None) -> tuple[WS, dict[str, Any]]:
    conn = ws_connect(base, "/ws/widget")
    ws = WS(conn)
    ws.send({"type": "hello", "widget": widget.key, "token": token,
             "conversation": conversation, "after": after})
    welcome = ws.recv()
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


# --- a real SMTP server -----------------------------------------------------------------------

class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse: set[str] = set()  # addresses the server answers 550 (a bounce)
        # Set at each message: a test waits for a mail the worker sends (no sleeping).
        self.arrived = threading.Event()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.original_content))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp(settings: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


def body_of(message: Message, subtype: str = "plain") -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            return part.get_payload(decode=True).decode()  # type: ignore[union-attr]
    raise AssertionError(f"no text/{subtype} part")
