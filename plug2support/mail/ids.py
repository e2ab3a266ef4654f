"""Message-IDs: as the product compares them (F1, F5)."""

from __future__ import annotations

import hashlib
import re

# No control character, byte-order mark or lone surrogate is part of an id (and PostgreSQL
# refuses NUL): the stored key and the one threading computes from a parsed header agree.
_NOT_IN_IDS = re.compile("[\x00-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")


def without_controls(value: str) -> str:
    return _NOT_IN_IDS.sub("", value)


def normalise_message_id(value: str) -> str:
    """The id as the product compares it: without <> and what no id holds. One rule for the
    intake's key, the parser's ids and the outbox's own."""
    value = without_controls(value).strip()
    match = re.search(r"<([^<>\s]+)>", value)
    return (match.group(1) if match else value.strip("<> ")).strip()[:998]


def message_key(message_id: str, raw: bytes) -> str:
    """What makes two deliveries the same message: its Message-ID (as the sender made it,
    case kept), else its bytes."""
    if message_id:
        return hashlib.sha256(b"id:" + message_id.encode("utf-8", "replace")).hexdigest()
    return hashlib.sha256(b"raw:" + raw).hexdigest()
