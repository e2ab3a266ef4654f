"""Ids and numbers from JSON frames and bodies: a JSON `true` is a Python int, but never an id,
and neither is a number no database column holds (SQLite raises OverflowError past 64 bits,
PostgreSQL an error of its own: either would be a 500)."""

from __future__ import annotations

from typing import TypeGuard

INT64_MAX = 2**63 - 1


def is_id(value: object) -> TypeGuard[int]:
    return (isinstance(value, int) and not isinstance(value, bool)
            and -INT64_MAX - 1 <= value <= INT64_MAX)


def id_from(value: object) -> int | None:
    """An int, or a string of ASCII digits (from a URL or a form); None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value if is_id(value) else None
