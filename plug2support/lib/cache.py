"""Django's Redis cache backend, with one connection pool and one client per process.

Django keeps its cache backends per context (`django.core.cache.caches` is an asgiref Local
that is not thread-critical). Under ASGI each request runs in a context of its own, so each
request built a new backend, and Django's Redis backend keeps its connection pools on the
backend: every request (and every socket message) that touched the cache opened a new
connection to Redis, and left it to the garbage collector. Django's client also builds a
`redis.Redis` object for every operation (about 170 response callbacks each). Here the pool
and the client are the process's, per server and options; redis-py's clients and pools are
safe to share between threads, and a pool used after a fork starts afresh in the child."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_lock = threading.Lock()
# (pool class, server, options) → the client over its pool; entries are never removed.
_clients: dict[tuple[Any, ...], Any] = {}


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


class SharedRedisCache(RedisCache):
    """settings.CACHES' backend when REDIS_URL is set."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedRedisCacheClient
