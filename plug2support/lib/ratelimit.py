"""A fixed-window rate limit on Django's cache (local memory, or Redis across processes)."""

from __future__ import annotations

from django.core.cache import cache


def hit(key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit for `key`; False once more than `limit` hits fell in the window."""
    cache_key = f"rl:{key}"
    if cache.add(cache_key, 1, timeout=window_seconds):
        return True
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_seconds)
        return True
    return count <= limit
