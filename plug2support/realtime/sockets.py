"""The socket machinery both endpoints share (realtime/endpoints/: `/ws/widget`, visitors by
visitor token; `/ws/operator`, operators by Django session): a `Socket`'s life, driven by
calls from its connection; its frames read in order and dispatched through its endpoint's
table of handlers (`handlers`: frame type → handler); and what it writes, hub events in
order per conversation. The frames are specified in docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.http import Http404

from plug2support.conversations.access import events_after
from plug2support.conversations.serializers import event_payload
from plug2support.lib import jsonin
from plug2support.lib.errors import Refused
from plug2support.lib.ids import is_id

from .asgi import Scope, client_ip, origin_allowed
from .dbthreads import db
from .hub import Frame, hub
from .topics import conversation_topic, staff_topic

log = logging.getLogger(__name__)

# Close codes (docs/protocol.md). 4400-range mirrors HTTP statuses.
CLOSE_BAD_HELLO = 4400
CLOSE_UNAUTHORISED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429
REPLAY_BATCH = 500
TYPING_INTERVAL_SECONDS = 2.0


class FrameError(Exception):
    """A refused frame: answered with an `error` frame of this code (docs/protocol.md)."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class Close(Exception):
    """Raised by a socket's own code: close the socket with this code."""

    def __init__(self, code: int) -> None:
        self.code = code


def seq_from(value: object) -> int:
    """A sequence number from a frame: an int (not a bool) ≥ 0, else 0 (from the start)."""
    if is_id(value) and value >= 0:
        return value
    return 0


# A frame handler: the socket, the frame (a dict with a string "type"); it answers itself.
Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]



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


def spawn(work: Coroutine[Any, Any, None]) -> None:
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
        self.ip = client_ip(scope)
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
        spawn(self._work(proxy, opening=True))

    def received(self, raw: str | bytes) -> None:
        if self._closed:
            return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(raw)
        if not self._busy:
            self._busy = True
            spawn(self._work(None, opening=False))
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
        except Close as close:
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
                self.ip = client_ip(scope)
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

    # The endpoint's frames: type → handler (called with the socket and the frame).
    handlers: ClassVar[Mapping[str, Handler]] = {}

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        handler = self.handlers.get(kind)
        if handler is None:
            raise FrameError("unknown_type", f"Unknown frame type {kind!r}.")
        await handler(self, frame)

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
        except Refused as error:  # ConversationError and the other domains' refusals
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
        spawn(self._flush())

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
