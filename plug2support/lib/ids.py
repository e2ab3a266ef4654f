"""Ids and numbers from JSON frames and bodies: a JSON `true` is a Python int, but never an id."""

from __future__ import annotations

from typing import TypeGuard


def is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def id_from(value: object) -> int | None:
    """An int, or a string of ASCII digits (from a URL or a form); None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value if is_id(value) else None
