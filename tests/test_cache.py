"""The Redis cache backend (lib/cache.py): Django builds a backend per context (each ASGI
request, each socket task), and they must share the process's Redis connections."""

from __future__ import annotations

import contextvars
import os
import secrets
from typing import Any

import pytest
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


@needs_redis
def test_a_rate_limit_hit_is_one_round_trip_and_its_window_expires(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """lib/ratelimit.hit, which every visitor message runs (and a first message twice, with
    the spam filter's), on the Redis backend: Django's add then incr took up to three round
    trips (its incr first asks whether the key exists). The count still starts with the
    window's expiry and refuses past the limit."""
    from plug2support.lib import ratelimit

    name = f"test-count-{secrets.token_hex(4)}"
    backend = SharedRedisCache(REDIS, {"KEY_PREFIX": name})
    backend.get("warm")  # the connection's own handshake is not counted below
    monkeypatch.setattr(ratelimit, "cache", backend)
    sent: list[object] = []
    real = redis.connection.Connection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        real(self, command, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
    assert [ratelimit.hit("k", 3, 60) for _ in range(5)] == [True, True, True, False, False]
    assert len(sent) == 5
    monkeypatch.undo()
    with redis.Redis.from_url(REDIS) as probe:
        assert 0 < probe.ttl(f"{name}:1:rl:k") <= 60
        probe.delete(f"{name}:1:rl:k")
