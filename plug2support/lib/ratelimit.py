"""A fixed-window rate limit on Django's cache (local memory, or Redis across processes).

It never raises for want of Redis: the Redis backend (lib/cache.SharedRedisCache) answers
from each process's memory while Redis is unreachable, so a limit then counts per process
and Redis's own count resumes when it answers again."""

from __future__ import annotations

from django.core.cache import cache


def hit(key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit for `key`; False once more than `limit` hits fell in the window."""
    cache_key = f"rl:{key}"
    count = getattr(cache, "count", None)
    if count is not None:  # Redis (lib/cache.SharedRedisCache): one round trip
        return int(count(cache_key, window_seconds)) <= limit
    if cache.add(cache_key, 1, timeout=window_seconds):
        return True
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_seconds)
        return True
    return count <= limit
