"""Message-IDs: as the product compares them (F1, F5)."""

from __future__ import annotations

import hashlib
import re


def normalise_message_id(value: str) -> str:
    value = value.strip()
    match = re.search(r"<([^<>\s]+)>", value)
    return (match.group(1) if match else value.strip("<> ")).strip()[:998]


def message_key(message_id: str, raw: bytes) -> str:
    """What makes two deliveries the same message: its Message-ID (as the sender made it,
    case kept), else its bytes."""
    if message_id:
        return hashlib.sha256(b"id:" + message_id.encode("utf-8", "replace")).hexdigest()
    return hashlib.sha256(b"raw:" + raw).hexdigest()
