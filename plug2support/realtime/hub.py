"""The per-process hub: which open sockets listen to which topic, and the bus that joins
processes.

Topics are strings: `conv:<id>` (a conversation's events, for its visitor and the operators
viewing it), `company:<id>` (the company's inbox: summaries of conversations as they
change) and `visitor:<id>` (every open tab of one visitor).

Every published message goes through the bus, even inside one process, so one code path
serves the embedded default and production: the in-process bus hands it to this process's
hub on the event loop; the Redis bus does the same and also publishes it on the deployment's
channel, to which every process holds one subscription and fans out locally (skipping its
own messages). A process's own sockets therefore never depend on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

class Listener(Protocol):
    def deliver(self, topic: str, payload: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True, eq=False)
class Frame(Mapping[str, Any]):
    """A payload from the bus, read-only, with its JSON text as published.

    The hub decodes a bus message once and hands the same Frame to every local listener of
    its topic. A socket that forwards it sends `text` as it came, and its WebSocket bytes
    are made once, by the first socket that writes it (`wire`): a message is serialised
    once per fan-out, not once per socket (the fan-out benchmark). A Frame never changes,
    so its text always says what it holds; a listener that needs another payload builds a
    dict from it (`{**frame, ...}`), which is encoded on its own. The values inside are the
    decoded JSON, shared by every listener: read them, never change them."""

    _payload: dict[str, Any]
    text: str
    _wire: bytes | None = field(default=None, init=False)

    # Read for every socket of a fan-out, several times each: the dict's own lookups, not
    # Mapping's generic ones (`get` through `__getitem__` and a try).
    def __getitem__(self, key: str) -> Any:
        return self._payload[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._payload.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._payload

    def __iter__(self) -> Iterator[str]:
        return iter(self._payload)

    def __len__(self) -> int:
        return len(self._payload)

    def wire(self, encode: Callable[[bytes], bytes]) -> bytes:
        """`encode(text)`: the frame as a connection writes it (realtime/wire.py), made by
        the first socket that sends it and kept for the others."""
        data = self._wire
        if data is None:
            data = encode(self.text.encode())
            object.__setattr__(self, "_wire", data)  # the one cache of a frozen Frame
        return data


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

    def resumed(self) -> None:
        """The bus is subscribed again after an outage: events of other processes may have
        been missed. Every listener with a `resumed()` (a cache to drop, a socket to catch
        up by sequence number) is told, once."""
        seen: set[int] = set()
        for listeners in tuple(self.topics.values()):
            for listener in tuple(listeners):
                if id(listener) in seen:
                    continue
                seen.add(id(listener))
                hook = getattr(listener, "resumed", None)
                if hook is None:
                    continue
                try:
                    hook()
                except Exception:
                    log.exception("a listener failed to resume")

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
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.hub.dispatch, raw,
                                          context=contextvars.Context())


class RedisBus:
    """One Redis pub/sub subscription per process, on the deployment's channel
    (`channel_name`). This process's own listeners get every publish straight from the
    in-process bus, whatever Redis does; Redis carries it to the other processes, and each
    message carries its sender's `origin` so that the sender skips it when it comes back.

    Publishing works from any thread: in a process whose hub runs (a web process), every
    publish — from the loop or from a database thread — joins one queue on the loop, and one
    task sends what has gathered as a pipeline (one round trip for many messages, in order;
    never more connections than one). Elsewhere (a worker, a command) it is a plain
    synchronous publish.

    Redis unreachable (issue 15, O5): a publish never fails its caller (what it announces
    is stored already; the database is the source of truth and clients catch up by `seq`).
    The subscription is retried with a back-off, the outage logged once when it starts and
    once when it ends; once subscribed again, the hub tells its listeners (`Hub.resumed`)."""

    BATCH = 500  # messages per pipeline
    RETRIES = 5
    OUTBOX_MAX = 100_000  # queued while Redis does not answer; the oldest go first
    BACKOFF_FIRST = 0.1  # seconds before subscribing again, doubled up to …
    BACKOFF_MAX = 5.0
    ORIGIN_LENGTH = 16

    def __init__(self, hub: Hub, url: str, prefix: str | None = None) -> None:
        # Only with REDIS_URL: the embedded default never loads the client (≈130 ms).
        import redis
        import redis.asyncio as aioredis

        self.hub = hub
        self.url = url
        self.channel = channel_name(url, settings.REDIS_PREFIX if prefix is None else prefix)
        self.local = InProcessBus(hub)
        self.origin = secrets.token_hex(self.ORIGIN_LENGTH // 2)
        self._origin_bytes = self.origin.encode()
        # Timeouts, so a Redis that stops answering (not only one that refuses) is noticed.
        self._sync = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._async = aioredis.Redis.from_url(url, socket_connect_timeout=2,
                                              socket_keepalive=True)
        self._sync_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._outbox: deque[str] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._publish_failing = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._listen())
        self._publisher = loop.create_task(self._publish_loop())
        # Other processes' events are heard once subscribed (this process's own reach its
        # listeners without Redis). A Redis that is down does not keep the process from
        # serving: it subscribes when Redis answers.
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=5)
        except TimeoutError:
            log.warning("redis bus not subscribed yet; serving this process's own events "
                        "until Redis answers")

    def _dispatch(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        if data[:self.ORIGIN_LENGTH] == self._origin_bytes:
            return  # ours: its listeners here had it from the in-process bus
        try:
            self.hub.dispatch(data[self.ORIGIN_LENGTH:])
        except Exception:  # a malformed message must not end the subscription
            log.exception("redis bus: a message could not be read")

    async def _listen(self) -> None:
        backoff = self.BACKOFF_FIRST
        lost = False
        while True:
            pubsub = self._async.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                if lost:
                    lost, backoff = False, self.BACKOFF_FIRST
                    log.warning("redis bus subscribed again")
                    self.hub.resumed()
                async for message in pubsub.listen():
                    if message and message.get("type") == "message":
                        self._dispatch(message["data"])
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as error:
                # Redis went away: this process's sockets still hear this process's events;
                # the others' are stored and reach them by sequence number.
                if not lost:
                    lost = True
                    log.warning("redis bus subscription lost (%s: %s); retrying with a "
                                "back-off up to %.0f s", type(error).__name__, error,
                                self.BACKOFF_MAX)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(backoff)
                backoff = min(self.BACKOFF_MAX, backoff * 2)

    def _published(self, error: Exception | None) -> None:
        """Log a publishing outage once when it starts and once when it ends."""
        if error is not None and not self._publish_failing:
            self._publish_failing = True
            log.warning("redis bus publish failed (%s: %s); other processes catch up by "
                        "sequence number", type(error).__name__, error)
        elif error is None and self._publish_failing:
            self._publish_failing = False
            log.warning("redis bus publishing again")

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
                        pipe.publish(self.channel, raw)
                    await pipe.execute()
                self._published(None)
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._published(error)
                if self._closing:
                    break
                await asyncio.sleep(0.2 * (attempt + 1))
        else:
            # Stored events are not lost: clients fill the gap from the database at the next
            # event or reconnect (sequence numbers). Only this live notice is dropped.
            log.error("redis bus: %d messages not published", count)
        for _ in range(min(count, len(self._outbox))):
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

    def _publish_now(self, message: str) -> None:
        """A synchronous publish (no running hub): a failure is logged, never raised."""
        try:
            with self._sync_lock:
                self._sync.publish(self.channel, message)
        except Exception as error:
            self._published(error)
        else:
            self._published(None)

    def _enqueue(self, message: str) -> None:
        if self._publisher is None or self._publisher.done():  # shut down meanwhile
            self._publish_now(message)
            return
        if len(self._outbox) >= self.OUTBOX_MAX:
            self._outbox.popleft()  # Redis has been away long: the oldest notice goes
        self._outbox.append(message)
        self._wake.set()

    def publish(self, raw: str) -> None:
        self.local.publish(raw)
        message = self.origin + raw
        loop = self.hub.loop
        if (self._publisher is not None and not self._publisher.done()
                and loop is not None and not loop.is_closed()):
            if _in_loop(loop):
                self._enqueue(message)
                return
            try:
                # From a database thread: queued in call order, the thread does not wait.
                loop.call_soon_threadsafe(self._enqueue, message, context=contextvars.Context())
                return
            except RuntimeError:  # the loop closed meanwhile
                pass
        self._publish_now(message)


def channel_name(url: str, prefix: str) -> str:
    """The deployment's pub/sub channel. Redis shares pub/sub channels across its database
    numbers, so the channel names the URL's database number as well as REDIS_PREFIX: two
    deployments on one Redis hear each other only if both match."""
    from redis.connection import parse_url

    database = parse_url(url).get("db", 0)
    return f"{prefix}:events:db{database}" if prefix else f"events:db{database}"


hub = Hub()


def publish_after_commit(topic: str, payload: dict[str, Any]) -> None:
    """The one way events leave an action: only once the transaction has committed, so no
    client ever hears of something the database does not have."""
    transaction.on_commit(lambda: hub.publish(topic, payload))
