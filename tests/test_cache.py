"""The Redis cache backend (lib/cache.py): Django builds a backend per context (each ASGI
request, each socket task), and they must share the process's Redis connections."""

from __future__ import annotations

import contextvars
import os

import pytest
import redis
from django.core.cache import caches

from plug2support.lib.cache import SharedRedisCache

REDIS = os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL", "")


def _connections_received(url: str) -> int:
    return int(redis.Redis.from_url(url).info("stats")["total_connections_received"])


@pytest.mark.skipif(not REDIS, reason="needs a Redis server: set REDIS_URL or TEST_REDIS_URL "
                                      "(.ci/run sets them)")
def test_backends_of_many_contexts_share_one_connection() -> None:
    """Twenty backends, as twenty requests in contexts of their own build them: what one
    writes the others read, and Redis sees no new connection for each (Django's own backend
    opened one a backend, left to the garbage collector)."""
    first = SharedRedisCache(REDIS, {"KEY_PREFIX": "test-shared"})
    first.set("greeting", "hello", 30)
    before = _connections_received(REDIS)
    read = []
    for _ in range(20):
        backend = contextvars.Context().run(
            lambda: SharedRedisCache(REDIS, {"KEY_PREFIX": "test-shared"}))
        read.append(backend.get("greeting"))
    after = _connections_received(REDIS)
    first.delete("greeting")
    assert read == ["hello"] * 20
    assert after - before <= 1  # the pool's one connection, if the first set's was busy


def test_the_settings_use_it_with_redis() -> None:
    """With REDIS_URL set, settings.CACHES names this backend (without, local memory)."""
    backend = caches["default"]
    if os.environ.get("REDIS_URL"):
        assert isinstance(backend, SharedRedisCache)
    else:
        assert type(backend).__name__ == "LocMemCache"
