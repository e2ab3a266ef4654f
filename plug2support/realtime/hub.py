"""The per-process hub: which open sockets listen to which topic, and the bus that joins
processes.

Topics are strings: `conv:<id>` (a conversation's events, for its visitor and the operators
viewing it), `company:<id>` (the company's inbox: summaries of conversations as they
change) and `visitor:<id>` (every open tab of one visitor).

Every published message goes through the bus, even inside one process, so one code path
serves the embedded default and production: the in-process bus hands it to this process's
hub on the event loop; the Redis bus publishes it on one channel to which every process
holds one subscription and fans out locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import threading
from collections import deque
from typing import Any, Protocol

from django.conf import settings

log = logging.getLogger(__name__)

REDIS_CHANNEL = "p2s:events"


class Listener(Protocol):
    def deliver(self, topic: str, payload: dict[str, Any]) -> None: ...


class Frame(dict[str, Any]):
    """A payload from the bus with its JSON text as published: a socket that sends it
    unchanged sends `text`, so a message is encoded once per publish, not once per socket
    (the fan-out benchmark); `wire` keeps the WebSocket frame made from it, for the same
    reason (realtime/wire.py). Any change to the frame drops both."""

    __slots__ = ("text", "wire")

    def __init__(self, payload: dict[str, Any], text: str | None) -> None:
        super().__init__(payload)
        self.text = text
        self.wire: bytes | None = None

    def _changed(self) -> None:
        self.text = None
        self.wire = None

    def __setitem__(self, key: str, value: Any) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._changed()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Frame:  # type: ignore[override,misc]
        self._changed()
        return super().__ior__(other)  # type: ignore[no-any-return]

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:
        self._changed()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def clear(self) -> None:
        self._changed()
        super().clear()


_PREFIX = '{"t":'
_SEPARATOR = ',"p":'


def encode(topic: str, payload: dict[str, Any]) -> str:
    """The bus message: `{"t":topic,"p":payload}`, the payload's text last, so that
    `dispatch` can hand it on without encoding it again."""
    return (_PREFIX + json.dumps(topic) + _SEPARATOR
            + json.dumps(payload, separators=(",", ":")) + "}")


class Hub:
    def __init__(self) -> None:
        self.topics: dict[str, set[Listener]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._bus: Bus | None = None
        self._started = False

    @property
    def bus(self) -> Bus:
        # Chosen on first use, so a worker or a command (no sockets, no loop) still
        # publishes to the other processes through Redis.
        if self._bus is None:
            url = settings.REDIS_URL
            self._bus = RedisBus(self, url) if url else InProcessBus(self)
        return self._bus

    # --- sockets register here (always on the event loop) ---
    def subscribe(self, listener: Listener, topic: str) -> None:
        self.topics.setdefault(topic, set()).add(listener)

    def unsubscribe(self, listener: Listener, topic: str) -> None:
        listeners = self.topics.get(topic)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self.topics[topic]

    def listener_count(self, topic: str) -> int:
        return len(self.topics.get(topic, ()))

    def dispatch(self, raw: str | bytes) -> None:
        """A message from the bus: hand it to every local listener of its topic."""
        if isinstance(raw, bytes):
            raw = raw.decode()
        message = json.loads(raw)
        topic = message["t"]
        listeners = self.topics.get(topic)
        if not listeners:
            return
        # The payload's own text is the end of the message (encode): sliced, not re-encoded.
        start = len(_PREFIX) + len(json.dumps(topic)) + len(_SEPARATOR)
        frame = Frame(message["p"], raw[start:-1])
        for listener in tuple(listeners):
            try:
                listener.deliver(topic, frame)
            except Exception:  # one broken socket must not starve the others
                log.exception("delivery to a listener failed")

    async def start(self) -> None:
        """Bind to the running loop and connect the bus. Idempotent."""
        if self._started:
            return
        self._started = True
        self.loop = asyncio.get_running_loop()
        await self.bus.start()

    async def stop(self) -> None:
        """Only from the loop the hub serves: a server on another loop of the process (the
        tests run several) stops its own work, not this hub's bus."""
        if self._started and self.loop is asyncio.get_running_loop():
            await self.bus.stop()
            self._started = False
            self.loop = None
            self._bus = None

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Send to every listener of `topic` in every process. Callable from any thread."""
        self.bus.publish(encode(topic, payload))


class Bus(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def publish(self, raw: str) -> None: ...


def _in_loop(loop: asyncio.AbstractEventLoop | None) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class InProcessBus:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def publish(self, raw: str) -> None:
        loop = self.hub.loop
        if loop is None or loop.is_closed():
            return  # no socket can be open in a process whose hub never started
        if _in_loop(loop):
            self.hub.dispatch(raw)
        else:
            # A fresh context: the publishing thread's context (asgiref's executor markers)
            # must not leak into the socket tasks this dispatch starts.
            loop.call_soon_threadsafe(self.hub.dispatch, raw, context=contextvars.Context())


class RedisBus:
    """One Redis pub/sub subscription per process. Publishing works from any thread: in a
    process whose hub runs (a web process), every publish — from the loop or from a database
    thread — joins one queue on the loop, and one task sends what has gathered as a pipeline
    (one round trip for many messages, in order; never more connections than one). Elsewhere
    (a worker, a command) it is a plain synchronous publish."""

    BATCH = 500  # messages per pipeline
    RETRIES = 5

    def __init__(self, hub: Hub, url: str) -> None:
        import redis
        import redis.asyncio as aioredis

        self.hub = hub
        self.url = url
        self._sync = redis.Redis.from_url(url)
        self._async = aioredis.Redis.from_url(url)
        self._sync_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._outbox: deque[str] = deque()
        self._wake = asyncio.Event()
        self._closing = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._listen())
        self._publisher = loop.create_task(self._publish_loop())
        # Publishing before the subscription exists would lose this process's own events.
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._async.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(REDIS_CHANNEL)
                self._subscribed.set()
                async for message in pubsub.listen():
                    if message and message.get("type") == "message":
                        self.hub.dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis went away: clients resume from their sequence numbers on reconnect,
                # and this process resubscribes as soon as Redis answers again.
                log.exception("redis bus subscription lost; retrying in 1 s")
                await asyncio.sleep(1)

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                await self._send_batch()
            if self._closing:
                return

    async def _send_batch(self) -> None:
        count = min(len(self._outbox), self.BATCH)
        batch = [self._outbox[i] for i in range(count)]
        for attempt in range(self.RETRIES):
            try:
                async with self._async.pipeline(transaction=False) as pipe:
                    for raw in batch:
                        pipe.publish(REDIS_CHANNEL, raw)
                    await pipe.execute()
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis bus publish failed (attempt %d)", attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1))
        else:
            # Stored events are not lost: clients fill the gap from the database at the next
            # event or reconnect (sequence numbers). Only this live notice is dropped.
            log.error("redis bus: %d messages not published", count)
        for _ in range(count):
            self._outbox.popleft()

    async def stop(self) -> None:
        if self._publisher is not None:
            # The publisher sends what was published before the shutdown, then ends (only
            # it sends: a second sender would repeat the batch in flight).
            self._closing = True
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(self._publisher, timeout=5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._async.aclose()
        self._sync.close()

    def _enqueue(self, raw: str) -> None:
        if self._publisher is None or self._publisher.done():  # shut down meanwhile
            with self._sync_lock:
                self._sync.publish(REDIS_CHANNEL, raw)
            return
        self._outbox.append(raw)
        self._wake.set()

    def publish(self, raw: str) -> None:
        loop = self.hub.loop
        if (self._publisher is not None and not self._publisher.done()
                and loop is not None and not loop.is_closed()):
            if _in_loop(loop):
                self._enqueue(raw)
                return
            try:
                # From a database thread: queued in call order, the thread does not wait.
                loop.call_soon_threadsafe(self._enqueue, raw, context=contextvars.Context())
                return
            except RuntimeError:  # the loop closed meanwhile
                pass
        with self._sync_lock:
            self._sync.publish(REDIS_CHANNEL, raw)


hub = Hub()


def session_topic(session_key: str) -> str:
    """The operator sockets opened with one login session. Hashed: keys never cross the bus."""
    return "session:" + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def publish_after_commit(topic: str, payload: dict[str, Any]) -> None:
    """The one way events leave an action: only once the transaction has committed, so no
    client ever hears of something the database does not have."""
    from django.db import transaction

    transaction.on_commit(lambda: hub.publish(topic, payload))
