"""The two socket endpoints: `/ws/widget` (visitors, by visitor token) and `/ws/operator`
(operators, by Django session). Handlers only parse frames, check access, call one action
and answer; the frames are specified in docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from typing import Any, TypeVar
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connections
from django.http import Http404

from plug2support.conversations import actions
from plug2support.conversations.access import (
    events_after,
    get_conversation_for_member,
    get_dependency_for_member,
    get_transfer_for_member,
    work_of,
)
from plug2support.conversations.serializers import (
    conversation_summary,
    event_payload,
    receipts,
    user_ref,
)
from plug2support.lib.ids import is_id

from . import presence
from .hub import Frame, hub, session_topic

log = logging.getLogger(__name__)

Scope = dict[str, Any]
T = TypeVar("T")

# Close codes (docs/protocol.md). 4400-range mirrors HTTP statuses.
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


def db(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run `fn` on a database thread. Socket handlers never finish a request, so Django
    never recycles a thread's connection: drop it after a database error, and the next call
    opens (or takes from the pool) a sound one. A socket awaits each call before it reads
    its next frame, so its own frames stay in order whichever thread runs them."""

    def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (DatabaseError, InterfaceError):
            connections.close_all()
            raise

    executor = _executor()
    if executor is None:
        return sync_to_async(guarded)
    return sync_to_async(guarded, thread_sensitive=False, executor=executor)


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


class Socket:
    """One open WebSocket: reads frames, and writes hub events in order, per conversation,
    filling any gap in the sequence from the database (so a client never sees seq 7 before
    seq 6, nor one twice)."""

    def __init__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.topics: set[str] = set()
        # conversation id → the last seq this socket has sent for it
        self.sent_seq: dict[int, int] = {}
        self._outbox: deque[dict[str, Any]] = deque()
        self._flushing = False
        self._closed = False
        # Typing indicators are throttled per socket and never stored.
        self.socket_id = secrets.token_hex(6)
        self._last_typing = 0.0

    # --- lifecycle ---
    async def run(self) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            return
        await hub.start()
        if not origin_allowed(self.scope):
            await self._send({"type": "websocket.close", "code": CLOSE_FORBIDDEN})
            return
        authorised = await self.authorise()
        await self._send({"type": "websocket.accept"})
        if not authorised:
            # Accepted, then closed with 4401: a browser sees this code (a refused handshake
            # is only "1006"), so the console knows to stop reconnecting and log in again.
            await self._send({"type": "websocket.close", "code": CLOSE_UNAUTHORISED})
            return
        try:
            await self.opened()
            while True:
                message = await self._receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message["type"] == "websocket.receive":
                    await self._handle_raw(message.get("text") or message.get("bytes") or "")
        except _Close as close:
            await self._send({"type": "websocket.close", "code": close.code})
        finally:
            self._closed = True
            for topic in self.topics:
                hub.unsubscribe(self, topic)
            self.topics.clear()
            await self.closed()

    async def authorise(self) -> bool:
        return True

    async def closed(self) -> None:
        return None

    async def opened(self) -> None:
        return None

    async def handle(self, frame: dict[str, Any]) -> None:
        raise FrameError("unknown_type", "Unknown frame type.")

    # --- reading ---
    async def _handle_raw(self, raw: str | bytes) -> None:
        limit = settings.SOCKET_FRAME_MAX_BYTES
        ref: object = None
        try:
            size = len(raw.encode()) if isinstance(raw, str) else len(raw)
            if size > limit:
                raise FrameError("frame_too_large", f"A frame is at most {limit} bytes.",
                                 limit=limit)
            try:
                frame = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise FrameError("bad_frame", "A frame must be a JSON object.") from None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise FrameError("bad_frame", "A frame must be a JSON object with a \"type\".")
            ref = frame.get("ref")
            if frame["type"] == "ping":
                await self.send_json({"type": "pong", "ref": ref})
                return
            await self.handle(frame)
        except FrameError as error:
            await self.send_error(error.code, error.message, ref=ref, **error.details)
        except actions.ConversationError as error:
            await self.send_error(error.code, error.message, ref=ref, **error.details)
        except Http404 as error:
            await self.send_error("not_found", str(error) or "Not found.", ref=ref)

    # --- writing ---
    async def send_json(self, payload: dict[str, Any]) -> None:
        if self._closed:
            return
        text = payload.text if isinstance(payload, Frame) else None
        try:
            await self._send({"type": "websocket.send",
                              "text": text or json.dumps(payload, separators=(",", ":"))})
        except Exception:  # the peer went away; the read loop will see the disconnect
            self._closed = True

    async def send_error(self, code: str, message: str, ref: object = None,
                         **details: object) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["ref"] = ref
        frame.update(details)
        await self.send_json(frame)

    def subscribe(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            hub.subscribe(self, topic)

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)
        hub.unsubscribe(self, topic)

    # Operators also hear the team-only events (notes, transfers); visitors never do.
    staff = False

    def conversation_topics(self, conversation_id: int) -> list[str]:
        topics = [actions.conversation_topic(conversation_id)]
        if self.staff:
            topics.append(actions.staff_topic(conversation_id))
        return topics

    def follow_conversation(self, conversation_id: int, after: int) -> None:
        """Send everything after `after`, then live events, in order and once each."""
        self.sent_seq[conversation_id] = after
        for topic in self.conversation_topics(conversation_id):
            self.subscribe(topic)
        # Subscribed first, then read the database: nothing can fall between the two.
        self._enqueue({"type": "_replay", "conversation": conversation_id})

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        """Called by the hub on the event loop; must not block."""
        self._enqueue(payload)

    def _enqueue(self, payload: dict[str, Any]) -> None:
        if self._closed:
            return
        self._outbox.append(payload)
        if not self._flushing:
            self._start_flush()

    def _start_flush(self) -> None:
        self._flushing = True
        # Its own context: the flush must not inherit the caller's (it may run a
        # sync_to_async replay, which asgiref refuses inside another one's context).
        asyncio.get_running_loop().create_task(self._flush(), context=contextvars.Context())

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
            log.exception("socket flush failed")
        finally:
            self._flushing = False

    async def _write(self, payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        if kind == "_replay":
            await self._replay(payload["conversation"])
            return
        if kind != "event":
            await self.on_other(payload)
            return
        conversation_id = payload["conversation"]
        last = self.sent_seq.get(conversation_id)
        if last is None or payload["seq"] <= last:
            return  # not followed (any more), or already sent
        if payload["seq"] > last + 1:
            await self._replay(conversation_id)  # a gap: read what is missing
            if payload["seq"] <= self.sent_seq.get(conversation_id, payload["seq"]):
                return  # replayed, or unsubscribed meanwhile
        if self.visible(payload):
            await self.send_json(payload)
        self.sent_seq[conversation_id] = payload["seq"]

    async def _replay(self, conversation_id: int) -> None:
        while conversation_id in self.sent_seq:
            after = self.sent_seq[conversation_id]
            events = await db(events_after)(conversation_id, after, REPLAY_BATCH,
                                            visitor=not self.staff)
            if conversation_id not in self.sent_seq:
                return  # unsubscribed while the database answered
            for event in events:
                if conversation_id not in self.sent_seq:
                    return  # unsubscribed while this batch was being sent
                payload = event_payload(event)
                if self.visible(payload):
                    await self.send_json(payload)
                self.sent_seq[conversation_id] = event.seq
            if len(events) < REPLAY_BATCH:
                return

    def visible(self, payload: dict[str, Any]) -> bool:
        return self.staff or not payload.get("staff_only")

    async def on_other(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == "typing" and payload.get("socket") == self.socket_id:
            return  # our own typing, back from the bus
        await self.send_json(payload)

    def publish_typing(self, topic: str, conversation_id: int, who: dict[str, Any]) -> None:
        """At most one typing frame per TYPING_INTERVAL_SECONDS per socket; never stored."""
        now = time.monotonic()
        if now - self._last_typing < TYPING_INTERVAL_SECONDS:
            return
        self._last_typing = now
        hub.publish(topic, {"type": "typing", "conversation": conversation_id, "who": who,
                            "socket": self.socket_id})


class _Close(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


# --- visitors ------------------------------------------------------------------------------

class WidgetSocket(Socket):
    schedule: Any = None

    def current_conversation_id(self) -> int | None:
        """The conversation this visitor socket follows (the latest one)."""
        return max(self.sent_seq) if self.sent_seq else None

    """The widget frame's socket. The frame is served from our origin, so the Origin check
    is the same as the console's; the customer site's origin is checked when the frame
    loads (CSP frame-ancestors) and on the config request."""

    visitor: Any = None

    async def opened(self) -> None:
        try:
            first = await asyncio.wait_for(self._receive(), timeout=HELLO_TIMEOUT_SECONDS)
        except TimeoutError:
            raise _Close(CLOSE_TIMEOUT) from None
        if first["type"] != "websocket.receive":
            raise _Close(1000)
        try:
            hello = json.loads(first.get("text") or "")
        except ValueError:
            hello = None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            await self.send_error("hello_required", "The first frame must be a hello.")
            raise _Close(CLOSE_UNAUTHORISED)
        client = self.scope.get("client") or ("", 0)
        try:
            identified = await db(_identify)(hello, client[0])
        except actions.ConversationError as error:
            await self.send_error(error.code, error.message, **error.details)
            raise _Close(CLOSE_RATE_LIMITED) from None
        if identified is None:
            await self.send_error("widget_not_found", "No widget has this key.")
            raise _Close(CLOSE_NOT_FOUND)
        self.visitor, token, self.schedule = identified
        # Subscribed before reading the current conversation: one that another tab starts
        # in between is announced on this topic (after the welcome, which is held first).
        self.hold_deliveries()
        self.subscribe(actions.visitor_topic(self.visitor.pk))
        self.subscribe(presence.availability_topic(self.visitor.widget.company_id))
        try:
            payload = await db(_welcome)(self.visitor, token, self.schedule)
            await self.send_json(payload)
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

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in ("typing", "receipt"):
            conversation_id = self.current_conversation_id()
            if conversation_id is None:
                return  # nothing to type into or to have read yet
            if kind == "typing":
                # Only the team hears the visitor typing.
                self.publish_typing(actions.staff_topic(conversation_id), conversation_id,
                                    {"type": "visitor", "name": self.visitor.display_name})
            else:
                await db(actions.do_record_receipt)(
                    conversation_id, side="visitor", delivered=frame.get("delivered"),
                    read=frame.get("read"))
            return
        if kind == "identify":
            contact = await db(_identify_contact)(self.visitor, frame)
            await self.send_json({"type": "identified", "ref": frame.get("ref"),
                                  "contact": contact})
            return
        if kind == "availability":
            online, blocked = await db(_availability_of)(self.visitor.widget.company_id)
            await self.send_json({**availability_frame(self.schedule, online, blocked),
                                  "ref": frame.get("ref")})
            return
        ip = (self.scope.get("client") or ("", 0))[0]
        if kind == "message":
            posted = await db(actions.do_post_visitor_message)(
                self.visitor, client_id=frame.get("client_id"), body=frame.get("body"),
                attachments=frame.get("attachments"), ip=ip, honeypot=frame.get("website"))
        elif kind == "offline_message":
            posted = await db(actions.do_leave_offline_message)(
                self.visitor, client_id=frame.get("client_id"), body=frame.get("body"),
                email=frame.get("email"), ip=ip, honeypot=frame.get("website"))
        else:
            raise FrameError("unknown_type", f"Unknown frame type {kind!r}.")
        event = posted.event
        if event.conversation_id not in self.sent_seq:
            self.follow_conversation(event.conversation_id, 0)
        await self.send_json({"type": "ack", "ref": frame.get("ref"),
                              "client_id": event.client_id, "conversation": event.conversation_id,
                              "seq": event.seq, "duplicate": posted.duplicate})

    async def on_other(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == "_availability":
            if payload.get("hours_changed") == self.visitor.widget_id:
                self.schedule = await db(_schedule_of)(self.visitor.widget_id)
            await self.send_json(availability_frame(self.schedule, payload["operators_online"],
                                                    bool(payload.get("blocked"))))
            return
        if payload.get("type") == "conversation_started":
            # Another tab of this visitor started the conversation: follow it here too.
            if payload["conversation"]["id"] not in self.sent_seq:
                await self.send_json(payload)
                self.follow_conversation(payload["conversation"]["id"], 0)
            return
        await super().on_other(payload)


def _seq(value: object) -> int:
    """A sequence number from a frame: an int (not a bool) ≥ 0, else 0 (from the start)."""
    if is_id(value) and value >= 0:
        return value
    return 0


def _identify(hello: dict[str, Any], ip: str) -> tuple[Any, str, Any] | None:
    """The visitor a hello names (or a new one), its token and its widget's hours."""
    from plug2support.widgets.cache import widget_for_hello

    key = hello.get("widget")
    found = widget_for_hello(key) if isinstance(key, str) else None
    if found is None:
        return None
    widget, schedule = found
    token = hello.get("token")
    token = token if isinstance(token, str) else None
    identified = actions.do_accept_invite(widget, hello.get("invite"), token)
    if identified is None:
        identified = actions.do_identify_visitor(widget, token, ip=ip)
    actions.do_link_site_visitor(identified[0], hello.get("vid"))
    return identified[0], identified[1], schedule


def _welcome(visitor: Any, token: str, schedule: Any) -> dict[str, Any]:
    conversation = actions.current_conversation(visitor)
    return {
        "type": "welcome",
        "token": token,
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
    }


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
    return {"id": contact.pk, "name": contact.name, "email": contact.email or None,
            "verified": contact.verified, "org": contact.org.name if contact.org else None}


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
        "transfers": [actions.transfer_payload(t) for t in pending_transfers_for(membership)],
        "notifications": recent_for(user_id, company_id),
        "unread": unread_count(user_id, company_id),
    }


class OperatorSocket(Socket):
    membership: Any = None
    staff = True

    connection_id = ""

    async def authorise(self) -> bool:
        self.membership, self.session_key = await db(_operator_for)(self.scope)
        return self.membership is not None

    async def closed(self) -> None:
        if not self.connection_id:
            return
        company_id = self.membership.company_id
        await db(presence.disconnect)(self.connection_id, self.membership.pk)
        # Still counted as connected for the grace period (a reload does not flap the
        # widgets); tell everyone once it has passed.
        async def recheck() -> None:
            try:
                await db(presence.publish_availability)(company_id)
            except Exception as error:  # the process or its database is shutting down
                log.warning("presence recheck for company %s failed: %s", company_id, error)

        loop = asyncio.get_running_loop()
        loop.call_later(settings.PRESENCE_GRACE_SECONDS + 0.05, lambda: loop.create_task(
            recheck(), context=contextvars.Context()))

    async def opened(self) -> None:
        user = self.membership.user
        self.subscribe(actions.company_topic(self.membership.company_id))
        self.subscribe(session_topic(self.session_key))
        self.subscribe(actions.member_topic(self.membership.company_id, user.pk))
        await self.send_json({
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
        if kind == "subscribe":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            after = _seq(frame.get("after"))
            await self.send_json({"type": "subscribed", "ref": ref,
                                  "conversation": conversation_summary(conversation),
                                  "metrics": await db(_metrics)(conversation),
                                  **await db(work_of)(conversation.pk)})
            self.follow_conversation(conversation.pk, after)
        elif kind == "unsubscribe":
            conversation_id = frame.get("conversation")
            if is_id(conversation_id):
                self.sent_seq.pop(conversation_id, None)
                for topic in self.conversation_topics(conversation_id):
                    self.unsubscribe(topic)
            await self.send_json({"type": "unsubscribed", "ref": ref,
                                  "conversation": conversation_id})
        elif kind == "claim":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            event = await db(actions.do_claim)(self.membership, conversation)
            await self.send_json({"type": "claimed", "ref": ref,
                                  "conversation": conversation.pk, "seq": event.seq})
        elif kind in ("message", "note"):
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            action = actions.do_post_operator_message if kind == "message" else actions.do_add_note
            posted = await db(action)(
                self.membership, conversation, client_id=frame.get("client_id"),
                body=frame.get("body"), attachments=frame.get("attachments"))
            await self.send_json({"type": "ack", "ref": ref, "client_id": posted.event.client_id,
                                  "conversation": conversation.pk, "seq": posted.event.seq,
                                  "duplicate": posted.duplicate})
        elif kind == "transfer_request":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            request = await db(actions.do_request_transfer)(self.membership, conversation)
            await self.send_json({"type": "transfer", "ref": ref,
                                  "request": actions.transfer_payload(request)})
        elif kind in ("transfer_accept", "transfer_decline", "transfer_withdraw"):
            request = await db(get_transfer_for_member)(self.membership, frame.get("request"))
            if kind == "transfer_withdraw":
                request = await db(actions.do_withdraw_transfer)(self.membership, request)
            else:
                request = await db(actions.do_answer_transfer)(
                    self.membership, request, accept=kind == "transfer_accept")
            await self.send_json({"type": "transfer", "ref": ref,
                                  "request": actions.transfer_payload(request)})
        elif kind == "typing":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            user = self.membership.user
            # A note being written is for the team; a reply is heard by the visitor too.
            topic_of = actions.staff_topic if frame.get("note") else actions.conversation_topic
            self.publish_typing(topic_of(conversation.pk), conversation.pk,
                                {"type": "operator", "id": user.pk,
                                 "name": user.name or user.email, "note": bool(frame.get("note"))})
        elif kind == "receipt":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            await db(actions.do_record_receipt)(conversation.pk, side="team",
                                                delivered=frame.get("delivered"),
                                                read=frame.get("read"))
        elif kind == "status":
            await db(presence.do_set_status)(self.membership, frame.get("status"))
            await db(presence.publish_availability)(self.membership.company_id)
            await self.send_json({"type": "status", "ref": ref, "status": self.membership.status})
        elif kind == "notifications_read":
            from plug2support.notifications.actions import do_mark_read

            await db(do_mark_read)(self.membership.user_id, self.membership.company_id)
            await self.send_json({"type": "notifications_read", "ref": ref, "unread": 0})
        elif kind == "move":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            event = await db(actions.do_move_stage)(self.membership, conversation,
                                                    frame.get("to"), frame.get("expected"))
            await self.send_json({"type": "moved", "ref": ref, "conversation": conversation.pk,
                                  "stage": frame.get("to"), "seq": event.seq,
                                  "metrics": await db(_metrics)(conversation)})
        elif kind in ("tag", "untag"):
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            if kind == "tag":
                event = await db(actions.do_tag)(self.membership, conversation, frame.get("tag"),
                                                 frame.get("value", ""))
            else:
                event = await db(actions.do_untag)(self.membership, conversation,
                                                   frame.get("tag"))
            await self.send_json({"type": "tagged" if kind == "tag" else "untagged", "ref": ref,
                                  "conversation": conversation.pk, "seq": event.seq})
        elif kind == "priority":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            await db(actions.do_set_priority)(self.membership, conversation,
                                              frame.get("priority"))
            await self.send_json({"type": "priority", "ref": ref,
                                  "conversation": conversation.pk,
                                  "priority": frame.get("priority")})
        elif kind == "create_tag":
            tag = await db(actions.do_create_tag)(self.membership, frame.get("name"))
            await self.send_json({"type": "tag_created", "ref": ref,
                                  "tag": {"id": tag.pk, "name": tag.name,
                                          "takes_value": tag.takes_value}})
        elif kind in ("open_ticket", "hold", "complete_review"):
            if kind == "complete_review":
                dependency = await db(get_dependency_for_member)(self.membership,
                                                                 frame.get("dependency"))
                await db(actions.do_complete_review)(self.membership, dependency)
                conversation_id = dependency.conversation_id
            else:
                conversation = await db(get_conversation_for_member)(
                    self.membership, frame.get("conversation"))
                conversation_id = conversation.pk
                if kind == "open_ticket":
                    await db(actions.do_open_ticket)(
                        self.membership, conversation, title=frame.get("title"),
                        kind=frame.get("kind", "ticket"),
                        needs_code_change=frame.get("needs_code_change", False),
                        owner_id=frame.get("owner"))
                else:
                    await db(actions.do_hold)(self.membership, conversation,
                                              tickets=frame.get("tickets", []),
                                              reviewers=frame.get("reviewers", []),
                                              expected=frame.get("expected"))
            await self.send_json({"type": "work", "ref": ref, "conversation": conversation_id,
                                  **await db(work_of)(conversation_id)})
        elif kind == "reassign":
            conversation = await db(get_conversation_for_member)(
                self.membership, frame.get("conversation"))
            event = await db(actions.do_reassign)(self.membership, conversation, frame.get("to"))
            await self.send_json({"type": "reassigned", "ref": ref,
                                  "conversation": conversation.pk, "seq": event.seq})
        else:
            raise FrameError("unknown_type", f"Unknown frame type {kind!r}.")

    async def on_other(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == "session_ended":
            # Logged out (in any tab): this socket spoke for that session, so it ends too.
            self._closed = True
            await self._send({"type": "websocket.close", "code": CLOSE_UNAUTHORISED})
            return
        await super().on_other(payload)


ENDPOINTS: dict[str, type[Socket]] = {
    "/ws/widget": WidgetSocket,
    "/ws/operator": OperatorSocket,
}


async def websocket_app(scope: Scope, receive: Any, send: Any) -> None:
    endpoint = ENDPOINTS.get(scope["path"].rstrip("/"))
    if endpoint is None:
        await receive()
        await send({"type": "websocket.close", "code": CLOSE_NOT_FOUND})
        return
    await endpoint(scope, receive, send).run()
