"""Text from outside, checked before it is stored."""

from __future__ import annotations

import unicodedata


def has_controls(text: str) -> bool:
    """Whether `text` holds a control character (C0/C1: NUL, escape, …). Names and labels
    people type never do; PostgreSQL's text cannot even store a NUL (a 500, not a refusal,
    if it reached the database)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)
