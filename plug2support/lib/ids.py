"""Ids and numbers from JSON frames and bodies: a JSON `true` is a Python int, but never an id."""

from __future__ import annotations

from typing import TypeGuard


def is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
