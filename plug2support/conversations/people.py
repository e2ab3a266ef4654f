"""How a person (an operator, a user) is named in payloads: one place, below every reader."""

from __future__ import annotations

from typing import Any


def display_name(user: Any) -> str:
    return str(user.name or user.email)


def user_ref(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": display_name(user)}
