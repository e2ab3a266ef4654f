"""JSON from outside (the widget HTTP API's bodies, both sockets' frames), parsed into values
the rest of the code can store and send back: one helper, so every public input refuses
the same odd input the same way (docs/protocol.md: `bad_request`, `bad_frame`).

Python's json module accepts two things the product cannot keep: a lone UTF-16 surrogate
(`"\\ud800"`, which no database can encode) and NUL (`"\\u0000"`, which PostgreSQL refuses in
text); and it gives up with RecursionError on deep nesting (30 000 arrays fit in a frame).
A value nested deeper than MAX_DEPTH is refused too: every caller would otherwise have to
survive it when echoing a `ref` or storing a field.
"""

from __future__ import annotations

import json
from typing import Any

# Far deeper than any frame or body of the protocol (3 levels), far below the recursion limit.
MAX_DEPTH = 32


class BadJSON(ValueError):
    """Not JSON the product accepts; `reason` says why, for the error's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(raw: str | bytes) -> Any:
    """The value of `raw` (text, or bytes in UTF-8/16/32), or BadJSON."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadJSON(f"it is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # UnicodeDecodeError included
        raise BadJSON("it is not JSON") from None
    # Cheap first: a surrogate or a NUL can only come from a \u escape (a text frame is
    # already valid UTF-8, and JSON refuses raw control characters), and a value can be no
    # deeper than its count of opening brackets. Most frames need no walk at all.
    escaped = (b"\\u" in raw) if isinstance(raw, bytes) else ("\\u" in raw)
    if isinstance(raw, bytes):
        brackets = raw.count(b"[") + raw.count(b"{")
    else:
        brackets = raw.count("[") + raw.count("{")
    if escaped or brackets > MAX_DEPTH:
        _check(value, strings=escaped)
    return value


def _check(value: Any, *, strings: bool) -> None:
    """Walk `value` without recursion: its depth, and (when `strings`) every key and string."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            if depth > MAX_DEPTH:
                raise BadJSON(f"it is nested more than {MAX_DEPTH} levels deep")
            for key, inner in item.items():
                if strings:
                    _check_text(key)
                pending.append((inner, depth + 1))
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                raise BadJSON(f"it is nested more than {MAX_DEPTH} levels deep")
            pending.extend((inner, depth + 1) for inner in item)
        elif strings and isinstance(item, str):
            _check_text(item)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise BadJSON("a string holds a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJSON("a string holds a lone UTF-16 surrogate") from None
