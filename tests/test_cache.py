"""The Redis cache backend (lib/cache.py): Django builds a backend per context (each ASGI
request, each socket task), and they must share the process's Redis connections."""

from __future__ import annotations

import contextvars
import os
import secrets

import redis
from django.core.cache import caches

from plug2support.lib.cache import SharedRedisCache

from .conftest import REDIS, needs_redis


@needs_redis
def test_backends_of_many_contexts_share_one_connection() -> None:
    """Twenty backends alive at once, as twenty requests in contexts of their own build
    them: what one writes the others read, over one connection to Redis (Django's own
    backend opened one a backend: twenty). Counted by the connections' own name."""
    name = f"test-shared-{secrets.token_hex(4)}"
    params = {"KEY_PREFIX": name, "OPTIONS": {"client_name": name}}
    first = SharedRedisCache(REDIS, params)
    first.set("greeting", "hello", 30)
    backends = [contextvars.Context().run(lambda: SharedRedisCache(REDIS, params))
                for _ in range(20)]
    read = [backend.get("greeting") for backend in backends]
    first.delete("greeting")
    with redis.Redis.from_url(REDIS) as probe:
        named = [c for c in probe.client_list() if c.get("name") == name]
    assert read == ["hello"] * 20
    assert len(named) == 1


def test_the_settings_use_it_with_redis() -> None:
    """With REDIS_URL set, settings.CACHES names this backend (without, local memory)."""
    backend = caches["default"]
    if os.environ.get("REDIS_URL"):
        assert isinstance(backend, SharedRedisCache)
    else:
        assert type(backend).__name__ == "LocMemCache"
