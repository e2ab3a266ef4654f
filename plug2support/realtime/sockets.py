"""The two socket endpoints: `/ws/widget` (visitors, by visitor token) and `/ws/operator`
(operators, by Django session). Handlers only parse frames, check access, call one action
and answer; the frames are specified in docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connections
from django.http import Http404

from plug2support.conversations.access import (
    events_after,
    get_conversation_for_member,
    get_dependency_for_member,
    get_transfer_for_member,
    work_of,
)
from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_leave_offline_message,
    do_post_operator_message,
    do_post_visitor_message,
    do_record_receipt,
)
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.tags import do_create_tag, do_tag, do_untag
from plug2support.conversations.actions.teamwork import (
    do_add_note,
    do_answer_transfer,
    do_claim,
    do_reassign,
    do_request_transfer,
    do_set_priority,
    do_withdraw_transfer,
    transfer_payload,
)
from plug2support.conversations.actions.tickets import do_complete_review, do_hold, do_open_ticket
from plug2support.conversations.actions.visitors import current_conversation, do_link_site_visitor
from plug2support.conversations.serializers import (
    conversation_summary,
    event_payload,
    receipts,
    user_ref,
)
from plug2support.lib import jsonin
from plug2support.lib.ids import is_id

from . import presence, wire
from .hub import Frame, hub
from .topics import (
    availability_topic,
    company_topic,
    conversation_topic,
    member_topic,
    session_topic,
    staff_topic,
    visitor_topic,
)

log = logging.getLogger(__name__)

Scope = dict[str, Any]
T = TypeVar("T")

# Close codes (docs/protocol.md). 4400-range mirrors HTTP statuses.
CLOSE_BAD_HELLO = 4400
CLOSE_UNAUTHORISED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429
HELLO_TIMEOUT_SECONDS = 10
REPLAY_BATCH = 500
TYPING_INTERVAL_SECONDS = 2.0


_db_executor: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor | None:
    """The sockets' database threads (settings.SOCKET_DB_THREADS); None: asgiref's one shared
    thread, as Django's own async views use."""
    global _db_executor
    if settings.SOCKET_DB_THREADS <= 1:
        return None
    if _db_executor is None:
        _db_executor = ThreadPoolExecutor(settings.SOCKET_DB_THREADS,
                                          thread_name_prefix="socket-db")
    return _db_executor


def close_db_threads() -> None:
    """At shutdown: every database thread closes its connection (a dropped test database or
    a restarted PostgreSQL must not find them open), then the threads end. Blocking."""
    global _db_executor
    executor, _db_executor = _db_executor, None
    _wrapped.clear()
    if executor is None:
        return
    count = settings.SOCKET_DB_THREADS
    # Each task waits for the others: `count` tasks at once take all `count` threads.
    barrier = threading.Barrier(count)

    def close() -> None:
        connections.close_all()
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10)

    for future in [executor.submit(close) for _ in range(count)]:
        future.result()
    executor.shutdown(wait=True)


_wrapped: dict[tuple[Callable[..., Any], ThreadPoolExecutor | None], Callable[..., Any]] = {}

# Each database thread's own context, kept from one call to the next. Django keeps its cache
# backends per context (`caches`, an asgiref Local that is not thread-critical), and every
# socket task starts from an empty context (_spawn): run in the task's, each call built a
# new backend, and with Redis a new connection pool — a new Redis connection a message,
# never reused (found by the two-process end-to-end benchmark). In the thread's own context
# a thread keeps one backend, as under WSGI. Database connections are thread-local anyway.
# What a call leaves in that context stays for the thread's next calls, as a WSGI worker's
# thread-locals do: switch a language or a time zone with `override`, never `activate`.
_thread_context = threading.local()


def _in_thread_context(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    context = getattr(_thread_context, "context", None)
    if context is None:
        context = _thread_context.context = contextvars.Context()
    return context.run(fn, *args, **kwargs)


def db(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run `fn` on a database thread. Socket handlers never finish a request, so Django
    never recycles a thread's connection: drop it after a database error, and the next call
    opens (or takes from the pool) a sound one. A socket awaits each call before it reads
    its next frame, so its own frames stay in order whichever thread runs them. The wrapper
    is made once per function (asgiref inspects the function each time one is made)."""
    executor = _executor()
    wrapper = _wrapped.get((fn, executor))
    if wrapper is not None:
        return wrapper

    def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return _in_thread_context(fn, *args, **kwargs)
        except (DatabaseError, InterfaceError):
            connections.close_all()
            raise
        finally:
            if executor is not None and executor is not _db_executor:
                # Its threads are being shut down (close_db_threads), and this call came
                # after their own closing: a thread must not end holding a connection,
                # which only the garbage collector would close (a PostgreSQL session left
                # open, holding its pool slot, after the pool itself was closed).
                connections.close_all()

    if executor is None:
        wrapper = sync_to_async(guarded)
    else:
        wrapper = sync_to_async(guarded, thread_sensitive=False, executor=executor)
    _wrapped[(fn, executor)] = wrapper
    return wrapper


class FrameError(Exception):
    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def origin_allowed(scope: Scope) -> bool:
    """Cross-site WebSocket hijacking defence: browsers always send Origin on a WebSocket
    handshake, and a page elsewhere cannot forge it. We accept our own origin (same host as
    the request, which must be an allowed host) and CSRF_TRUSTED_ORIGINS."""
    origin = _header(scope, b"origin")
    if not origin:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = (_header(scope, b"host") or "").lower()
    netloc = urlsplit(origin).netloc.lower()
    if not host or netloc != host:
        return False
    from django.http.request import split_domain_port, validate_host

    domain, _port = split_domain_port(host)
    return validate_host(domain, settings.ALLOWED_HOSTS)


class Connection(Protocol):
    """What a Socket writes to: the product's WebSocket protocol under uvicorn
    (realtime/wire.py) or, under another ASGI server, `AsgiConnection`. Writes never block:
    a frame is queued on the connection at once, in call order."""

    def accept(self) -> None: ...
    def send_text(self, text: str) -> None: ...
    def send_frame(self, frame: Frame) -> None: ...
    def close(self, code: int) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    async def drained(self) -> None: ...


def dumps(payload: Mapping[str, Any]) -> str:
    """A socket's own frame (a dict) as JSON text; a bus Frame is sent as its own text."""
    return json.dumps(payload, separators=(",", ":"))


_running: set[asyncio.Task[None]] = set()


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    """A short task of a socket's (its opening, a run of frames, a flush). Its own context:
    it must not inherit the caller's (it may run a sync_to_async call, which asgiref
    refuses inside another one's context); kept referenced until it ends."""
    task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)


# Frames read but not yet handled, per socket: past this many, stop reading from the peer
# until the handlers catch up (the ASGI servers do the same with one).
INBOX_PAUSE = 8


class Socket:
    """One open WebSocket, driven by calls from its connection — `connected`, `received`
    (a frame), `disconnected` — with no task of its own while idle: a short task opens it,
    handles a run of frames in order, or flushes deliveries. Writes hub events in order, per
    conversation, filling any gap in the sequence from the database (so a client never sees
    seq 7 before seq 6, nor one twice)."""

    __slots__ = ("scope", "ip", "connection", "topics", "sent_seq", "_outbox", "_inbox",
                 "_flushing", "_busy", "_closed", "_finished", "_socket_id", "_last_typing",
                 "__weakref__")

    def __init__(self, scope: Scope, connection: Connection) -> None:
        # The request's headers are needed only to open the socket: dropped after that.
        self.scope: Scope | None = scope
        self.ip = _client_ip(scope)
        self.connection = connection
        self.topics: set[str] = set()
        # conversation id → the last seq this socket has sent for it
        self.sent_seq: dict[int, int] = {}
        self._outbox: deque[Mapping[str, Any]] | None = None
        self._inbox: deque[str | bytes] | None = None
        self._flushing = False
        self._busy = False  # a task is opening the socket or handling its frames
        self._closed = False
        self._finished = False
        # Typing indicators are throttled per socket and never stored.
        self._socket_id: str | None = None
        self._last_typing = 0.0

    @property
    def socket_id(self) -> str:
        if self._socket_id is None:
            self._socket_id = secrets.token_hex(6)
        return self._socket_id

    # --- lifecycle (called by the connection) ---
    def connected(self, proxy: Any = None) -> None:
        """The handshake arrived: check it and accept or refuse. `proxy`: uvicorn's
        X-Forwarded-For middleware, applied to the scope first (wire.py)."""
        self._busy = True
        _spawn(self._work(proxy, opening=True))

    def received(self, raw: str | bytes) -> None:
        if self._closed:
            return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(raw)
        if not self._busy:
            self._busy = True
            _spawn(self._work(None, opening=False))
        elif len(inbox) >= INBOX_PAUSE:
            self.connection.pause_reading()

    def disconnected(self) -> None:
        self._closed = True
        if not self._busy:
            self._finish()

    def close(self, code: int) -> None:
        if self._closed:
            return
        self._closed = True
        self.connection.close(code)
        if not self._busy:
            self._finish()

    async def _work(self, proxy: Any, opening: bool) -> None:
        try:
            if opening:
                await self._open(proxy)
            inbox = self._inbox
            while inbox and not self._closed:
                raw = inbox.popleft()
                if len(inbox) == INBOX_PAUSE // 2:
                    self.connection.resume_reading()
                await self.receive_frame(raw)
        except _Close as close:
            self.close(close.code)
        except Exception:
            log.exception("socket failed")
            self.close(1011)
        finally:
            self._busy = False
            if not self._inbox:
                self._inbox = None
            if self._closed:
                self._finish()

    async def _open(self, proxy: Any) -> None:
        scope = self.scope
        assert scope is not None
        try:
            if proxy is not None:
                await proxy(scope, None, None)
                self.ip = _client_ip(scope)
            await hub.start()
            if not origin_allowed(scope):
                self.close(CLOSE_FORBIDDEN)
                return
            authorised = await self.authorise()
            if self._closed:
                return
            self.connection.accept()
            if not authorised:
                # Accepted, then closed with 4401: a browser sees this code (a refused
                # handshake is only "1006"), so the console knows to stop reconnecting and
                # log in again.
                self.close(CLOSE_UNAUTHORISED)
                return
        finally:
            self.scope = None
        await self.opened()

    def _finish(self) -> None:
        """Once, when the socket is closed and no task of its is running."""
        if self._finished:
            return
        self._finished = True
        for topic in self.topics:
            hub.unsubscribe(self, topic)
        self.topics.clear()
        self._outbox = self._inbox = None
        self.closed()

    async def authorise(self) -> bool:
        return True

    def closed(self) -> None:
        return None

    async def opened(self) -> None:
        return None

    async def handle(self, frame: dict[str, Any]) -> None:
        raise FrameError("unknown_type", "Unknown frame type.")

    # --- reading ---
    async def receive_frame(self, raw: str | bytes) -> None:
        limit = settings.SOCKET_FRAME_MAX_BYTES
        ref: object = None
        try:
            size = len(raw.encode()) if isinstance(raw, str) else len(raw)
            if size > limit:
                raise FrameError("frame_too_large", f"A frame is at most {limit} bytes.",
                                 limit=limit)
            try:
                frame = jsonin.loads(raw)
            except jsonin.BadJSON as bad:
                raise FrameError("bad_frame", f"A frame must be a JSON object; {bad.reason}."
                                 ) from None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise FrameError("bad_frame", "A frame must be a JSON object with a \"type\".")
            ref = frame.get("ref")
            if frame["type"] == "ping":
                self.send_json({"type": "pong", "ref": ref})
                return
            await self.handle(frame)
        except FrameError as error:
            self.send_error(error.code, error.message, ref=ref, **error.details)
        except ConversationError as error:
            self.send_error(error.code, error.message, ref=ref, **error.details)
        except Http404 as error:
            self.send_error("not_found", str(error) or "Not found.", ref=ref)

    # --- writing ---
    def send_json(self, payload: Mapping[str, Any]) -> None:
        if self._closed:
            return
        if isinstance(payload, Frame):  # as published: its text, encoded once for all
            self.connection.send_frame(payload)
        else:
            self.connection.send_text(dumps(payload))

    def send_error(self, code: str, message: str, ref: object = None,
                   **details: object) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["ref"] = ref
        frame.update(details)
        self.send_json(frame)

    def subscribe(self, topic: str) -> None:
        if topic not in self.topics and not self._finished:
            self.topics.add(topic)
            hub.subscribe(self, topic)

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)
        hub.unsubscribe(self, topic)

    # Operators also hear the team-only events (notes, transfers); visitors never do.
    staff = False

    def conversation_topics(self, conversation_id: int) -> list[str]:
        topics = [conversation_topic(conversation_id)]
        if self.staff:
            topics.append(staff_topic(conversation_id))
        return topics

    def follow_conversation(self, conversation_id: int, after: int, *,
                            read: bool = True) -> None:
        """Send everything after `after`, then live events, in order and once each.
        `read=False`: nothing of the conversation can have been published yet (it is being
        created), so there is nothing to read first."""
        self.sent_seq[conversation_id] = after
        for topic in self.conversation_topics(conversation_id):
            self.subscribe(topic)
        # Subscribed first, then read the database: nothing can fall between the two.
        if read:
            self._enqueue({"type": "_replay", "conversation": conversation_id})

    def unfollow_conversation(self, conversation_id: int) -> None:
        self.sent_seq.pop(conversation_id, None)
        for topic in self.conversation_topics(conversation_id):
            self.unsubscribe(topic)

    def deliver(self, topic: str, payload: Mapping[str, Any]) -> None:
        """Called by the hub on the event loop; must not block. What needs no database is
        written at once; the rest (a gap to fill, a replay) queues behind the outbox."""
        if self._closed:
            return
        if self._flushing or self._outbox or not self._write_now(payload):
            self._enqueue(payload)

    def _enqueue(self, payload: Mapping[str, Any]) -> None:
        if self._closed:
            return
        if self._outbox is None:
            self._outbox = deque()
        self._outbox.append(payload)
        if not self._flushing:
            self._start_flush()

    def _start_flush(self) -> None:
        self._flushing = True
        _spawn(self._flush())

    def hold_deliveries(self) -> None:
        """Queue what the hub delivers without sending it (until release_deliveries): a
        welcome read after subscribing must reach the client before any later news."""
        self._flushing = True

    def release_deliveries(self) -> None:
        if self._outbox:
            self._start_flush()
        else:
            self._flushing = False

    async def _flush(self) -> None:
        try:
            while self._outbox and not self._closed:
                await self._write(self._outbox.popleft())
        except Exception:
            # A replay or a gap that could not be read (the database): the client comes
            # back and resumes from its sequence numbers rather than miss what was dropped.
            log.exception("socket flush failed")
            self.close(1011)
        finally:
            self._flushing = False
            if not self._outbox:
                self._outbox = None

    def _write_now(self, payload: Mapping[str, Any]) -> bool:
        """Write `payload` if that needs no waiting (True: written or dropped); False: it
        needs the database (`_write`), and nothing was done."""
        kind = payload.get("type")
        if kind == "_replay":
            return False
        if kind != "event":
            return self.other_now(payload)
        conversation_id = payload["conversation"]
        last = self.sent_seq.get(conversation_id)
        if last is None or payload["seq"] <= last:
            return True  # not followed (any more), or already sent
        if payload["seq"] > last + 1:
            return False  # a gap: read what is missing first
        if self.visible(payload):
            self.send_json(payload)
        self.sent_seq[conversation_id] = payload["seq"]
        return True

    async def _write(self, payload: Mapping[str, Any]) -> None:
        if self._write_now(payload):
            return
        kind = payload.get("type")
        if kind == "_replay":
            await self._replay(payload["conversation"])
            return
        if kind != "event":
            await self.on_other(payload)
            return
        conversation_id = payload["conversation"]
        await self._replay(conversation_id)  # the gap
        if payload["seq"] <= self.sent_seq.get(conversation_id, payload["seq"]):
            return  # replayed, or unsubscribed meanwhile
        if self.visible(payload):
            self.send_json(payload)
        self.sent_seq[conversation_id] = payload["seq"]

    async def _replay(self, conversation_id: int) -> None:
        while conversation_id in self.sent_seq:
            after = self.sent_seq[conversation_id]
            events = await db(events_after)(conversation_id, after, REPLAY_BATCH,
                                            visitor=not self.staff)
            if conversation_id not in self.sent_seq or self._closed:
                return  # unsubscribed or closed while the database answered
            if self.sent_seq[conversation_id] != after:
                continue  # followed again meanwhile, from elsewhere: this batch is stale
            for event in events:
                payload = event_payload(event)
                if self.visible(payload):
                    self.send_json(payload)
                self.sent_seq[conversation_id] = event.seq
                # A long history is sent as fast as the client reads it, no faster (the
                # connection drops a peer that lets too much pile up).
                await self.connection.drained()
                if self.sent_seq.get(conversation_id) != event.seq or self._closed:
                    break  # unsubscribed or followed again while waiting
            if len(events) < REPLAY_BATCH:
                return

    def visible(self, payload: Mapping[str, Any]) -> bool:
        return self.staff or not payload.get("staff_only")

    def other_now(self, payload: Mapping[str, Any]) -> bool:
        """A live frame other than a conversation's event, written at once (True), or
        False when it needs `on_other`'s waiting."""
        if payload.get("type") == "typing" and payload.get("socket") == self._socket_id:
            return True  # our own typing, back from the bus
        self.send_json(payload)
        return True

    async def on_other(self, payload: Mapping[str, Any]) -> None:
        self.send_json(payload)

    def publish_typing(self, topic: str, conversation_id: int, who: dict[str, Any]) -> None:
        """At most one typing frame per TYPING_INTERVAL_SECONDS per socket; never stored."""
        now = time.monotonic()
        if now - self._last_typing < TYPING_INTERVAL_SECONDS:
            return
        self._last_typing = now
        hub.publish(topic, {"type": "typing", "conversation": conversation_id, "who": who,
                            "socket": self.socket_id})


def _client_ip(scope: Scope) -> str:
    client = scope.get("client") or ("", 0)
    return str(client[0])


class _Close(Exception):
    def __init__(self, code: int) -> None:
        self.code = code

# --- visitors ------------------------------------------------------------------------------

class WidgetSocket(Socket):
    """The widget frame's socket. The frame is served from our origin, so the Origin check
    is the same as the console's; the customer site's origin is checked when the frame
    loads (CSP frame-ancestors) and on the config request. Its first frame is the hello."""

    __slots__ = ("visitor", "schedule", "proven", "_hello_timer")

    def __init__(self, scope: Scope, connection: Connection) -> None:
        super().__init__(scope, connection)
        self.visitor: Any = None
        self.schedule: Any = None
        # N7: the site user id this socket proved (hello `identity` or `identify`), or None.
        self.proven: str | None = None
        self._hello_timer: asyncio.TimerHandle | None = None

    def current_conversation_id(self) -> int | None:
        """The conversation this visitor socket follows (the latest one)."""
        return max(self.sent_seq) if self.sent_seq else None

    async def opened(self) -> None:
        self._hello_timer = asyncio.get_running_loop().call_later(
            HELLO_TIMEOUT_SECONDS, self._no_hello)

    def _no_hello(self) -> None:
        self._hello_timer = None
        self.close(CLOSE_TIMEOUT)

    def closed(self) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None

    async def receive_frame(self, raw: str | bytes) -> None:
        if self.visitor is None:
            if self._hello_timer is not None:
                self._hello_timer.cancel()
                self._hello_timer = None
            await self._hello(raw)
        else:
            await super().receive_frame(raw)

    async def _hello(self, raw: str | bytes) -> None:
        try:
            hello = jsonin.loads(raw)
        except jsonin.BadJSON as bad:
            # Most likely a hello with a field the product cannot keep (a page's identity
            # with a lone surrogate): say so, and close with a code clients retry, unlike
            # 4401 (the client can send a better hello; the widget drops the identity).
            self.send_error("bad_frame", f"The hello must be JSON the product accepts; "
                                         f"{bad.reason}.")
            raise _Close(CLOSE_BAD_HELLO) from None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            self.send_error("hello_required", "The first frame must be a hello.")
            raise _Close(CLOSE_UNAUTHORISED)
        try:
            identified = await db(_identify)(hello, self.ip)
        except ConversationError as error:
            self.send_error(error.code, error.message, **error.details)
            raise _Close(CLOSE_RATE_LIMITED) from None
        if identified is None:
            self.send_error("widget_not_found", "No widget has this key.")
            raise _Close(CLOSE_NOT_FOUND)
        if self._closed:
            return
        opened, self.schedule = identified
        self.visitor, self.proven = opened.visitor, opened.proven
        # Subscribed before reading the current conversation: one that another tab starts
        # in between is announced on this topic (after the welcome, which is held first).
        self.hold_deliveries()
        if self.may_read():
            self.subscribe(visitor_topic(self.visitor.pk))
        self.subscribe(availability_topic(self.visitor.widget.company_id))
        try:
            payload = await db(_welcome)(opened, self.schedule, self.may_read())
            self.send_json(payload)
        finally:
            self.release_deliveries()
        conversation = payload["conversation"]
        if conversation is not None:
            # `after` counts in the conversation the client names; any other gets it all.
            after = hello.get("after")
            named = hello.get("conversation")
            same = is_id(named) and named == conversation["id"]
            after = _seq(after) if same else 0
            self.follow_conversation(conversation["id"], after)

    def may_read(self) -> bool:
        """N7: a widget requiring identity serves only a socket that proved one."""
        return self.proven is not None or not self.visitor.widget.require_identity

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in ("typing", "receipt"):
            conversation_id = self.current_conversation_id()
            if conversation_id is None:
                return  # nothing to type into or to have read yet
            if kind == "typing":
                # Only the team hears the visitor typing.
                self.publish_typing(staff_topic(conversation_id), conversation_id,
                                    {"type": "visitor", "name": self.visitor.display_name})
            else:
                await db(do_record_receipt)(
                    conversation_id, side="visitor", delivered=frame.get("delivered"),
                    read=frame.get("read"))
            return
        if kind == "identify":
            contact = await db(_identify_contact)(self.visitor, frame)
            could_read, self.proven = self.may_read(), frame["user_id"]
            self.send_json({"type": "identified", "ref": frame.get("ref"),
                                  "contact": contact})
            if not could_read:
                await self._unlocked()
            return
        if kind == "availability":
            online, blocked = await db(_availability_of)(self.visitor.widget.company_id)
            self.send_json({**availability_frame(self.schedule, online, blocked),
                                  "ref": frame.get("ref")})
            return
        if kind in ("message", "offline_message") and not self.may_read():
            raise FrameError("identity_required", "This chat is for the site's logged-in "
                                                  "users: log in on the site to chat.")
        ip = self.ip
        if kind == "message":
            opened: list[int] = []
            try:
                posted = await db(do_post_visitor_message)(
                    self.visitor, client_id=frame.get("client_id"), body=frame.get("body"),
                    attachments=frame.get("attachments"), ip=ip, honeypot=frame.get("website"),
                    none_seen=not self.sent_seq,
                    on_open=None if self.sent_seq else self._follow_opened(opened))
            except BaseException:
                for conversation_id in opened:  # rolled back: it does not exist
                    self.unfollow_conversation(conversation_id)
                raise
        elif kind == "offline_message":
            posted = await db(do_leave_offline_message)(
                self.visitor, client_id=frame.get("client_id"), body=frame.get("body"),
                email=frame.get("email"), ip=ip, honeypot=frame.get("website"))
        else:
            raise FrameError("unknown_type", f"Unknown frame type {kind!r}.")
        event = posted.event
        if event.conversation_id not in self.sent_seq:
            self.follow_conversation(event.conversation_id, 0)
        self.send_json({"type": "ack", "ref": frame.get("ref"),
                              "client_id": event.client_id, "conversation": event.conversation_id,
                              "seq": event.seq, "duplicate": posted.duplicate})

    async def _unlocked(self) -> None:
        """Identified on a widget that requires it: the visitor's conversation opens now, as
        it would have at the hello (subscribed first, so none started meanwhile is missed)."""
        self.subscribe(visitor_topic(self.visitor.pk))
        conversation = await db(current_conversation)(self.visitor)
        if conversation is not None and conversation.pk not in self.sent_seq:
            self.send_json({"type": "conversation_started",
                            "conversation": {"id": conversation.pk}})
            self.follow_conversation(conversation.pk, 0)

    def _follow_opened(self, opened: list[int]) -> Callable[[int], None]:
        """`on_open` for the visitor's message (do_post_visitor_message): called on
        the database thread with the id of the conversation the message opens, before the
        commit that publishes its first events. The loop runs callbacks in the order they
        were posted, so this socket follows the conversation from seq 0 before any of its
        events is delivered, and needs no replay; another process's event can only come
        after that commit, so after this too."""
        loop = asyncio.get_running_loop()

        def on_open(conversation_id: int) -> None:
            opened.append(conversation_id)
            loop.call_soon_threadsafe(
                functools.partial(self.follow_conversation, conversation_id, 0, read=False),
                context=contextvars.Context())

        return on_open

    def other_now(self, payload: Mapping[str, Any]) -> bool:
        kind = payload.get("type")
        if kind == "_availability":
            if payload.get("hours_changed") == self.visitor.widget_id:
                return False  # the widget's hours changed: read them (on_other)
            self.send_json(availability_frame(self.schedule, payload["operators_online"],
                                              bool(payload.get("blocked"))))
            return True
        if kind == "conversation_started":
            # Another tab of this visitor started the conversation: follow it here too.
            if payload["conversation"]["id"] not in self.sent_seq:
                self.send_json(payload)
                self.follow_conversation(payload["conversation"]["id"], 0)
            return True
        return super().other_now(payload)

    async def on_other(self, payload: Mapping[str, Any]) -> None:
        # Only an availability notice with new hours gets here.
        self.schedule = await db(_schedule_of)(self.visitor.widget_id)
        self.send_json(availability_frame(self.schedule, payload["operators_online"],
                                          bool(payload.get("blocked"))))


def _seq(value: object) -> int:
    """A sequence number from a frame: an int (not a bool) ≥ 0, else 0 (from the start)."""
    if is_id(value) and value >= 0:
        return value
    return 0


def _identify(hello: dict[str, Any], ip: str) -> tuple[Any, Any] | None:
    """The visitor a hello names (or a new one: N7, conversations/opening.py) and its
    widget's hours."""
    from plug2support.conversations.opening import do_open_visitor
    from plug2support.widgets.cache import widget_for_hello

    key = hello.get("widget")
    found = widget_for_hello(key) if isinstance(key, str) else None
    if found is None:
        return None
    widget, schedule = found
    token = hello.get("token")
    token = token if isinstance(token, str) else None
    opened = do_open_visitor(widget, token, identity=hello.get("identity"),
                             invite=hello.get("invite"), ip=ip)
    do_link_site_visitor(opened.visitor, hello.get("vid"))
    return opened, schedule


def _welcome(opened: Any, schedule: Any, may_read: bool) -> dict[str, Any]:
    visitor = opened.visitor
    conversation = current_conversation(visitor) if may_read else None
    welcome: dict[str, Any] = {
        "type": "welcome",
        "token": opened.token,
        "visitor": {"id": visitor.pk, "name": visitor.display_name,
                    "email": visitor.email or None},
        "conversation": None if conversation is None else {
            "id": conversation.pk,
            "stage": conversation.stage,
            "last_seq": conversation.last_seq,
            "receipts": receipts(conversation),
        },
        "availability": availability_frame(
            schedule, *_availability_of(visitor.widget.company_id))["availability"],
        "contact": _contact_json(opened.contact) if opened.contact else None,
    }
    if opened.refused is not None:
        welcome["identity_error"] = {"code": opened.refused.code,
                                     "message": opened.refused.message}
    return welcome


def _availability_of(company_id: int) -> tuple[bool, bool]:
    """Whether an operator is online, and whether the company's chat is blocked (H6)."""
    from plug2support.billing.access import communication_block

    return (presence.operators_online(company_id),
            communication_block(company_id) is not None)


def _identify_contact(visitor: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """B6: the site says who its logged-in user is, signed with the widget's secret."""
    from plug2support.contacts.actions import do_identify
    from plug2support.contacts.identity import IdentityError

    try:
        contact = do_identify(visitor, user_id=frame.get("user_id"),
                              user_hash=frame.get("user_hash"), email=frame.get("email"),
                              name=frame.get("name"))
    except IdentityError as error:
        raise FrameError(error.code, error.message) from None
    if contact.email and not visitor.email:
        # Replies by e-mail (offline form) go to the verified address.
        type(visitor).objects.filter(pk=visitor.pk).update(email=contact.email)
        visitor.email = contact.email
    return _contact_json(contact)


def _contact_json(contact: Any) -> dict[str, Any]:
    from plug2support.contacts.actions import contact_summary

    return contact_summary(contact)


def _schedule_of(widget_id: int) -> Any:
    from plug2support.widgets.models import Widget

    return Widget.objects.get(pk=widget_id).schedule()


def availability_frame(schedule: Any, operators_online: bool,
                       blocked: bool = False) -> dict[str, Any]:
    """Live chat when the business is open and someone is online; else the offline form;
    "unavailable" (no form either) while the company's communication is blocked (H6)."""
    from datetime import UTC

    from django.utils import timezone

    now = timezone.now()
    is_open = schedule.is_open(now)
    change = schedule.next_change(now, days=8)
    return {"type": "availability", "availability": {
        "mode": "unavailable" if blocked else "live" if is_open and operators_online
        else "offline",
        "open": is_open,
        "operators_online": operators_online,
        "next_change": change.astimezone(UTC).isoformat() if change else None,
    }}


# --- operators -----------------------------------------------------------------------------

class _SessionHolder:
    def __init__(self, session: Any) -> None:
        self.session = session


def _operator_for(scope: Scope) -> tuple[Any, str]:
    """The membership the session's user works in (None when logged out or without a
    company), and the session key."""
    from importlib import import_module

    from django.contrib.auth import get_user

    from plug2support.accounts.current import SESSION_KEY, current_membership

    cookie = SimpleCookie()
    cookie.load(_header(scope, b"cookie") or "")
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None, ""
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(session_key=morsel.value)
    # get_user also checks the session's password hash: a changed password logs sockets out.
    user = get_user(_SessionHolder(session))  # type: ignore[arg-type]
    if not user.is_authenticated:
        return None, ""
    return current_membership(user.pk, session.get(SESSION_KEY)), morsel.value


INBOX_SNAPSHOT_SIZE = 100


def _metrics(conversation: Any) -> dict[str, float | None]:
    from plug2support.conversations.metrics import for_conversation

    return for_conversation(conversation).as_dict()


def _inbox_snapshot(membership: Any) -> dict[str, Any]:
    from plug2support.conversations.access import conversations_for, pending_transfers_for
    from plug2support.notifications.actions import recent_for, unread_count

    recent = conversations_for(membership).order_by("-updated_at")[:INBOX_SNAPSHOT_SIZE]
    user_id, company_id = membership.user_id, membership.company_id
    return {
        "conversations": [conversation_summary(c) for c in recent],
        "transfers": [transfer_payload(t) for t in pending_transfers_for(membership)],
        "notifications": recent_for(user_id, company_id),
        "unread": unread_count(user_id, company_id),
    }


def _subscribed(membership: Any, conversation_ids: list[object]) -> list[dict[str, Any] | None]:
    """The `subscribed` answers (without their refs) to subscribes naming these conversations,
    None for one the member may not see: for any number of them, five queries."""
    from plug2support.conversations.access import conversations_for, work_for
    from plug2support.conversations.metrics import for_conversations
    from plug2support.lib.ids import id_from

    pks = [id_from(value) for value in conversation_ids]
    found = {c.pk: c for c in conversations_for(membership).filter(
        pk__in={pk for pk in pks if pk is not None})}
    metrics = for_conversations(found.values())
    work = work_for(list(found))
    return [None if pk not in found else {
        "conversation": conversation_summary(found[pk]), "metrics": metrics[pk].as_dict(),
        **work[pk]} for pk in pks]


# A console's subscribes are answered in batches of at most this many (one database call
# each); past SUBSCRIBES_WAITING not yet answered, the socket's other frames wait too.
SUBSCRIBE_BATCH = 100
SUBSCRIBES_WAITING = 1000


class OperatorSocket(Socket):
    """A console's socket. Its `subscribe` and `unsubscribe` frames are carried out in order
    on a lane of their own (`_subscriptions`), beside its other frames: a console that
    reconnects following many conversations subscribes to each again, and its replies must
    not wait behind those reads and their replays (bench/README.md, burst)."""

    __slots__ = ("membership", "session_key", "connection_id", "_subscriptions",
                 "_subscribing", "_room")
    staff = True

    def __init__(self, scope: Scope, connection: Connection) -> None:
        super().__init__(scope, connection)
        self.membership: Any = None
        self.session_key = ""
        self.connection_id = ""
        self._subscriptions: deque[dict[str, Any]] | None = None
        self._subscribing = False
        self._room: asyncio.Future[None] | None = None  # awaited while too many wait

    async def _follow_later(self, frame: dict[str, Any]) -> None:
        """Queue a subscribe or unsubscribe for the subscription lane."""
        queue = self._subscriptions
        if queue is None:
            queue = self._subscriptions = deque()
        queue.append(frame)
        if not self._subscribing:
            self._subscribing = True
            _spawn(self._follow_all())
        if len(queue) >= SUBSCRIBES_WAITING and self._room is None:
            self._room = asyncio.get_running_loop().create_future()
            await self._room

    async def _follow_all(self) -> None:
        queue = self._subscriptions
        try:
            while queue and not self._closed:
                if queue[0]["type"] == "unsubscribe":
                    self._unsubscribe(queue.popleft())
                    continue
                batch: list[dict[str, Any]] = []
                while queue and queue[0]["type"] == "subscribe" and len(batch) < SUBSCRIBE_BATCH:
                    batch.append(queue.popleft())
                if self._room is not None and len(queue) < SUBSCRIBES_WAITING // 2:
                    self._room.set_result(None)
                    self._room = None
                answers = await db(_subscribed)(
                    self.membership, [frame.get("conversation") for frame in batch])
                for frame, answer in zip(batch, answers, strict=True):
                    ref = frame.get("ref")
                    if answer is None:
                        self.send_error("not_found", "No such conversation.", ref=ref)
                        continue
                    self.send_json({"type": "subscribed", "ref": ref, **answer})
                    self.follow_conversation(answer["conversation"]["id"],
                                             _seq(frame.get("after")))
        except Exception:
            log.exception("socket subscription failed")
            self.close(1011)
        finally:
            self._subscribing = False
            if self._room is not None:
                self._room.set_result(None)  # closed: the frame lane ends too
                self._room = None
            if not queue:
                self._subscriptions = None

    def _unsubscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = frame.get("conversation")
        if is_id(conversation_id):
            self.unfollow_conversation(conversation_id)
        self.send_json({"type": "unsubscribed", "ref": frame.get("ref"),
                        "conversation": conversation_id})

    async def authorise(self) -> bool:
        assert self.scope is not None
        self.membership, self.session_key = await db(_operator_for)(self.scope)
        return self.membership is not None

    def closed(self) -> None:
        if self.connection_id:
            _spawn(self._went_away())

    async def _went_away(self) -> None:
        company_id = self.membership.company_id
        try:
            await db(presence.disconnect)(self.connection_id, self.membership.pk)
        except Exception as error:  # the process or its database is shutting down
            log.warning("presence disconnect for company %s failed: %s", company_id, error)
            return

        # Still counted as connected for the grace period (a reload does not flap the
        # widgets); tell everyone once it has passed.
        async def recheck() -> None:
            try:
                await db(presence.publish_availability)(company_id)
            except Exception as error:  # the process or its database is shutting down
                log.warning("presence recheck for company %s failed: %s", company_id, error)

        asyncio.get_running_loop().call_later(settings.PRESENCE_GRACE_SECONDS + 0.05,
                                              lambda: _spawn(recheck()))

    async def opened(self) -> None:
        user = self.membership.user
        self.subscribe(company_topic(self.membership.company_id))
        self.subscribe(session_topic(self.session_key))
        self.subscribe(member_topic(self.membership.company_id, user.pk))
        self.send_json({
            "type": "welcome",
            "user": user_ref(user),
            "company": {"id": self.membership.company_id, "name": self.membership.company.name},
            "role": self.membership.role,
        })
        # A snapshot of the inbox on every (re)connect: whatever changed while this socket
        # was away is in it, then live "conversation" frames keep it current.
        # It goes through the ordered outbox, after any live frame queued while it was read.
        snapshot = await db(_inbox_snapshot)(self.membership)
        self._enqueue({"type": "inbox", **snapshot})
        # Counted as connected from now on: the team and the widgets hear of it.
        self.connection_id = await db(presence.connect)(self.membership.pk)
        await db(presence.publish_availability)(self.membership.company_id)

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        ref = frame.get("ref")
        if kind in ("subscribe", "unsubscribe"):
            await self._follow_later(frame)
        elif kind == "claim":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            event = await db(do_claim)(self.membership, conversation)
            self.send_json({"type": "claimed", "ref": ref,
                                  "conversation": conversation.pk, "seq": event.seq})
        elif kind in ("message", "note"):
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            action = do_post_operator_message if kind == "message" else do_add_note
            posted = await db(action)(
                self.membership, conversation, client_id=frame.get("client_id"),
                body=frame.get("body"), attachments=frame.get("attachments"))
            self.send_json({"type": "ack", "ref": ref, "client_id": posted.event.client_id,
                                  "conversation": conversation.pk, "seq": posted.event.seq,
                                  "duplicate": posted.duplicate})
        elif kind == "transfer_request":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            request = await db(do_request_transfer)(self.membership, conversation)
            self.send_json({"type": "transfer", "ref": ref,
                                  "request": transfer_payload(request)})
        elif kind in ("transfer_accept", "transfer_decline", "transfer_withdraw"):
            request = await db(get_transfer_for_member)(self.membership, frame.get("request"))
            if kind == "transfer_withdraw":
                request = await db(do_withdraw_transfer)(self.membership, request)
            else:
                request = await db(do_answer_transfer)(
                    self.membership, request, accept=kind == "transfer_accept")
            self.send_json({"type": "transfer", "ref": ref,
                                  "request": transfer_payload(request)})
        elif kind == "typing":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            user = self.membership.user
            # A note being written is for the team; a reply is heard by the visitor too.
            topic_of = staff_topic if frame.get("note") else conversation_topic
            self.publish_typing(topic_of(conversation.pk), conversation.pk,
                                {"type": "operator", "id": user.pk,
                                 "name": user.name or user.email, "note": bool(frame.get("note"))})
        elif kind == "receipt":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            await db(do_record_receipt)(conversation.pk, side="team",
                                                delivered=frame.get("delivered"),
                                                read=frame.get("read"))
        elif kind == "status":
            await db(presence.do_set_status)(self.membership, frame.get("status"))
            await db(presence.publish_availability)(self.membership.company_id)
            self.send_json({"type": "status", "ref": ref, "status": self.membership.status})
        elif kind == "notifications_read":
            from plug2support.notifications.actions import do_mark_read

            await db(do_mark_read)(self.membership.user_id, self.membership.company_id)
            self.send_json({"type": "notifications_read", "ref": ref, "unread": 0})
        elif kind == "move":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            event = await db(do_move_stage)(self.membership, conversation,
                                                    frame.get("to"), frame.get("expected"))
            self.send_json({"type": "moved", "ref": ref, "conversation": conversation.pk,
                                  "stage": frame.get("to"), "seq": event.seq,
                                  "metrics": await db(_metrics)(conversation)})
        elif kind in ("tag", "untag"):
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            if kind == "tag":
                event = await db(do_tag)(self.membership, conversation, frame.get("tag"),
                                                 frame.get("value", ""))
            else:
                event = await db(do_untag)(self.membership, conversation,
                                                   frame.get("tag"))
            self.send_json({"type": "tagged" if kind == "tag" else "untagged", "ref": ref,
                                  "conversation": conversation.pk, "seq": event.seq})
        elif kind == "priority":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            await db(do_set_priority)(self.membership, conversation,
                                              frame.get("priority"))
            self.send_json({"type": "priority", "ref": ref,
                                  "conversation": conversation.pk,
                                  "priority": frame.get("priority")})
        elif kind == "create_tag":
            tag = await db(do_create_tag)(self.membership, frame.get("name"))
            self.send_json({"type": "tag_created", "ref": ref,
                                  "tag": {"id": tag.pk, "name": tag.name,
                                          "takes_value": tag.takes_value}})
        elif kind in ("open_ticket", "hold", "complete_review"):
            if kind == "complete_review":
                dependency = await db(get_dependency_for_member)(self.membership,
                                                                 frame.get("dependency"))
                await db(do_complete_review)(self.membership, dependency)
                conversation_id = dependency.conversation_id
            else:
                conversation = await db(get_conversation_for_member)(
                    self.membership, frame.get("conversation"))
                conversation_id = conversation.pk
                if kind == "open_ticket":
                    await db(do_open_ticket)(
                        self.membership, conversation, title=frame.get("title"),
                        kind=frame.get("kind", "ticket"),
                        needs_code_change=frame.get("needs_code_change", False),
                        owner_id=frame.get("owner"))
                else:
                    await db(do_hold)(self.membership, conversation,
                                              tickets=frame.get("tickets", []),
                                              reviewers=frame.get("reviewers", []),
                                              expected=frame.get("expected"))
            self.send_json({"type": "work", "ref": ref, "conversation": conversation_id,
                                  **await db(work_of)(conversation_id)})
        elif kind == "reassign":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            event = await db(do_reassign)(self.membership, conversation, frame.get("to"))
            self.send_json({"type": "reassigned", "ref": ref,
                                  "conversation": conversation.pk, "seq": event.seq})
        else:
            raise FrameError("unknown_type", f"Unknown frame type {kind!r}.")

    def other_now(self, payload: Mapping[str, Any]) -> bool:
        if payload.get("type") == "session_ended":
            # Logged out (in any tab): this socket spoke for that session, so it ends too.
            self.close(CLOSE_UNAUTHORISED)
            return True
        return super().other_now(payload)


ENDPOINTS: dict[str, type[Socket]] = {
    "/ws/widget": WidgetSocket,
    "/ws/operator": OperatorSocket,
}


class AsgiConnection:
    """A Socket's connection over ASGI's `send`, for a server started without the
    product's own WebSocket protocol (wire.py): frames queue in order and one task at a
    time sends them."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self._out: deque[dict[str, Any]] = deque()
        self._queued = 0  # characters of text waiting in _out
        self._writer: asyncio.Task[None] | None = None
        self.readable = asyncio.Event()  # cleared while the Socket's frame queue is full
        self.readable.set()
        self._dropped = False

    def _queue(self, message: dict[str, Any]) -> None:
        if self._dropped:
            return
        self._queued += len(message.get("text") or "")
        if self._queued > wire.WRITE_BUFFER_LIMIT:  # the same limit as wire.py's
            # Nothing more for this peer but a close; the read loop ends when it goes.
            log.warning("closing a socket whose peer stopped reading")
            self._dropped = True
            self._out.clear()
            message = {"type": "websocket.close", "code": 1013}
        self._out.append(message)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write_all(), context=contextvars.Context())

    async def _write_all(self) -> None:
        try:
            while self._out:
                message = self._out.popleft()
                self._queued -= len(message.get("text") or "")
                await self._send(message)
        except Exception:  # the peer went away: nothing more can be sent
            self._out.clear()
        finally:
            self._writer = None

    def accept(self) -> None:
        self._queue({"type": "websocket.accept"})

    def send_text(self, text: str) -> None:
        self._queue({"type": "websocket.send", "text": text})

    def send_frame(self, frame: Frame) -> None:
        self._queue({"type": "websocket.send", "text": frame.text})

    def close(self, code: int) -> None:
        self._queue({"type": "websocket.close", "code": code})
        self.readable.set()  # the read loop must go on to see the disconnect

    def pause_reading(self) -> None:
        self.readable.clear()

    def resume_reading(self) -> None:
        self.readable.set()

    async def drained(self) -> None:
        while self._writer is not None:
            await asyncio.wait([self._writer])


async def websocket_app(scope: Scope, receive: Any, send: Any) -> None:
    """The ASGI path to the same sockets (wire.py is the one uvicorn uses with the
    product's SERVER_OPTIONS). Here the one task per socket is this loop."""
    endpoint = ENDPOINTS.get(scope["path"].rstrip("/"))
    if endpoint is None:
        await receive()
        await send({"type": "websocket.close", "code": CLOSE_NOT_FOUND})
        return
    connection = AsgiConnection(send)
    socket = endpoint(scope, connection)
    if (await receive())["type"] != "websocket.connect":
        return
    socket.connected()
    while True:
        await connection.readable.wait()  # the Socket's queue of frames has room
        message = await receive()
        if message["type"] == "websocket.disconnect":
            break
        if message["type"] == "websocket.receive":
            socket.received(message.get("text") or message.get("bytes") or "")
    socket.disconnected()
    await connection.drained()
