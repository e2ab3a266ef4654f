"""Django's Redis cache backend, with one connection pool and one client per process, and a
per-process stand-in while Redis is unreachable.

Django keeps its cache backends per context (`django.core.cache.caches` is an asgiref Local
that is not thread-critical). Under ASGI each request runs in a context of its own, so each
request built a new backend, and Django's Redis backend keeps its connection pools on the
backend: every request (and every socket message) that touched the cache opened a new
connection to Redis, and left it to the garbage collector. Django's client also builds a
`redis.Redis` object for every operation (about 170 response callbacks each). Here the pool
and the client are the process's, per server and options; redis-py's clients and pools are
safe to share between threads, and a pool used after a fork starts afresh in the child.

Degraded mode (issue 15, O5). Everything the product keeps in this cache can be rebuilt:
the block state is read again from the database, a rate limit counts again. So a Redis that
does not answer must never fail a request or a visitor's message: an operation that fails
with a Redis error is answered by a per-process local-memory cache instead (`_Outage`), and
for a back-off (0.5 s doubling to 5 s) every operation goes there straight away, without
trying Redis. The first operation after the back-off tries Redis again. The outage is
logged once when it starts and once when it ends. Keys written or deleted locally during an
outage are deleted from Redis when it answers again (what Redis holds for them may predate
a change this process made meanwhile), and the local entries are dropped: from then on
every process reads the shared ones again. Counters (`add`, `incr`) are not replayed: Redis
resumes its own counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

log = logging.getLogger(__name__)

_lock = threading.Lock()
# (pool class, server, options) → the client over its pool; entries are never removed.
_clients: dict[tuple[Any, ...], Any] = {}

BACKOFF_FIRST = 0.5  # seconds without trying Redis after a failure, doubled up to …
BACKOFF_MAX = 5.0
PENDING_MAX = 10_000  # keys remembered for deletion when Redis answers again


class SharedRedisCacheClient(RedisCacheClient):
    # Set and defined by Django's RedisCacheClient (django-stubs does not declare them). Its
    # operations all go through get_client, the one method replaced.
    _servers: list[str]
    _pool_class: Any
    _pool_options: dict[str, Any]
    _client: Any
    _get_connection_pool_index: Callable[[bool], int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys: dict[int, tuple[Any, ...]] = {}  # server index → its key in _clients

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        key_ = self._keys.get(index)
        if key_ is None:
            key_ = self._keys[index] = (self._pool_class, self._servers[index], tuple(sorted(
                (name, repr(value)) for name, value in self._pool_options.items())))
        client = _clients.get(key_)
        if client is None:
            with _lock:
                client = _clients.get(key_)
                if client is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    client = _clients[key_] = self._client(connection_pool=pool)
        return client


class _Outage:
    """The process's view of one Redis location: whether to try it now, and what to tidy
    when it answers again. Shared by every backend object for that location (there is one
    per request context)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.lock = threading.Lock()
        self.down = False
        self.retry_at = 0.0
        self.backoff = BACKOFF_FIRST
        self.pending: set[tuple[str, int | None]] = set()  # (key, version) to delete
        self.overflowed = False

    def usable(self) -> bool:
        return not self.down or time.monotonic() >= self.retry_at

    def failed(self, error: Exception) -> None:
        with self.lock:
            if not self.down:
                # Once per outage; the error's class and text name no key or value.
                log.warning("redis cache unreachable (%s: %s): each process uses its own "
                            "memory until it answers", type(error).__name__, error)
                self.down = True
                self.backoff = BACKOFF_FIRST
            else:
                self.backoff = min(BACKOFF_MAX, self.backoff * 2)
            self.retry_at = time.monotonic() + self.backoff

    def remember(self, keys: list[str], version: int | None) -> None:
        with self.lock:
            for key in keys:
                if len(self.pending) >= PENDING_MAX:
                    self.overflowed = True
                    return
                self.pending.add((key, version))

    def recover(self, backend: SharedRedisCache) -> None:
        """Before the first operation Redis gets after an outage: the keys changed here
        meanwhile leave Redis, then the local entries go. Other threads wait for it (they
        must not read those keys first). Raises the Redis error if Redis is still away."""
        with self.lock:
            if not self.down:
                return
            while self.pending:
                key, version = next(iter(self.pending))
                RedisCache.delete(backend, key, version=version)
                self.pending.discard((key, version))
            overflowed, self.overflowed = self.overflowed, False
            backend._fallback().clear()
            self.down = False
        log.warning("redis cache reachable again%s", " (more keys changed during the outage "
                    "than remembered: some may stay stale until they expire)"
                    if overflowed else "")


_outages: dict[str, _Outage] = {}


def _outage_of(location: str) -> _Outage:
    found = _outages.get(location)
    if found is None:
        with _lock:
            found = _outages.setdefault(location, _Outage(location))
    return found


def _guarded(name: str, version_at: int | None = None) -> Callable[..., Any]:
    """`name` of RedisCache, answered by the local stand-in while Redis does not answer.
    `version_at`: the operation writes or deletes keys (its first argument: a key, keys or
    a dict by key), whose Redis entries go when Redis answers again; the position of its
    `version` argument."""

    def operation(self: SharedRedisCache, *args: Any, **kwargs: Any) -> Any:
        outage = self._outage
        if outage.usable():
            try:
                if outage.down:
                    outage.recover(self)
                return getattr(RedisCache, name)(self, *args, **kwargs)
            except redis.RedisError as error:
                outage.failed(error)
        if version_at is not None:
            keys = args[0] if args else next(
                kwargs[arg] for arg in ("key", "keys", "data") if arg in kwargs)
            version = args[version_at] if len(args) > version_at else kwargs.get("version")
            outage.remember([keys] if isinstance(keys, str) else list(keys), version)
        return getattr(self._fallback(), name)(*args, **kwargs)

    operation.__name__ = name
    return operation


class SharedRedisCache(RedisCache):
    """settings.CACHES' backend when REDIS_URL is set."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedRedisCacheClient
        self._params = params
        self._outage = _outage_of(server if isinstance(server, str) else ",".join(server))
        self._local: LocMemCache | None = None

    def _fallback(self) -> LocMemCache:
        # LocMemCache keeps its entries per name, module-wide: every backend object of this
        # location shares one store. Same prefix and versions as the Redis keys.
        if self._local is None:
            self._local = LocMemCache(f"p2s-redis-outage:{self._outage.location}", {
                key: value for key, value in self._params.items()
                if key in ("TIMEOUT", "KEY_PREFIX", "VERSION", "KEY_FUNCTION")}
                | {"OPTIONS": {"MAX_ENTRIES": 10_000}})
        return self._local

    def count(self, key: str, timeout: int, version: int | None = None) -> int:
        """One more on the counter at `key` (made to expire after `timeout` seconds when it
        is missing), and the count: one round trip (SET NX EX, then INCR, in a MULTI).
        Django's add then incr took up to three (its incr first asks whether the key
        exists), on every visitor message (lib/ratelimit.py). While Redis does not answer,
        the stand-in counts, with add and incr."""
        outage = self._outage
        if outage.usable():
            try:
                if outage.down:
                    outage.recover(self)
                made = self.make_and_validate_key(key, version=version)
                client = self._cache.get_client(made, write=True)  # type: ignore[attr-defined]
                pipe = client.pipeline(transaction=True)
                pipe.set(made, 0, ex=timeout, nx=True)
                pipe.incr(made)
                return int(pipe.execute()[1])
            except redis.RedisError as error:
                outage.failed(error)
        local = self._fallback()
        if local.add(key, 1, timeout, version=version):
            return 1
        try:
            return local.incr(key, version=version)
        except ValueError:  # expired between add and incr
            local.add(key, 1, timeout, version=version)
            return 1

    add = _guarded("add")
    get = _guarded("get")
    set = _guarded("set", version_at=3)
    touch = _guarded("touch")
    delete = _guarded("delete", version_at=1)
    get_many = _guarded("get_many")
    has_key = _guarded("has_key")
    incr = _guarded("incr")
    set_many = _guarded("set_many", version_at=2)
    delete_many = _guarded("delete_many", version_at=1)
    clear = _guarded("clear")

