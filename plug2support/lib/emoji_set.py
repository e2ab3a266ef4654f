"""The emoji the console's composer offers (M2): its picker and its `:shortcode:` completion,
served once as /console/emoji.json (docs/protocol.md §6).

Built from the pinned `emoji` package (docs/architecture.md, dependencies): its table has each
emoji's CLDR name, its aliases (the `:smile:`/`:+1:` shortcodes people know from GitHub and
Slack), its qualification and the Emoji version that brought it. Kept: the fully qualified
ones up to Emoji 14.0 without skin-tone variants, 1 849 with emoji 2.16.0 — what fonts of the
last few years draw, and a payload the browser caches for a week (119 kB, 29 kB gzipped).
The order: a short list of the ones support teams type most, then by Unicode block (faces
first, flags and keycaps last) and code point within it, which keeps faces, hands, animals,
food and objects together.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import Any

MAX_EMOJI_VERSION = 14.0
_SKIN_TONE = re.compile("[\U0001f3fb-\U0001f3ff]")
# Shown first in the picker, before the recently used ones are known.
POPULAR = "🙂😊😀😉😅😂🙏👍👌👋🎉✅❤️🙌👏🤝💪🔥⭐💡📎📌⏳⚠️❌🤔😕😢😮😍🚀📦📧📞🛠️🐛"


def _shortcode(code: str) -> str:
    return code.strip(":").lower()


@cache
def emoji_rows() -> list[dict[str, Any]]:
    """[{"e": "👍", "n": "thumbs up", "s": ["thumbs_up", "thumbsup", "+1"]}, …]"""
    # Imported here, not at the top: its table (5 000 emoji in 20 languages) is loaded only by
    # a process that serves this list, once.
    import emoji

    fully_qualified = emoji.STATUS["fully_qualified"]
    rows: list[dict[str, Any]] = []
    for char, data in emoji.EMOJI_DATA.items():
        if (data["status"] != fully_qualified or data["E"] > MAX_EMOJI_VERSION
                or _SKIN_TONE.search(char)):
            continue
        codes = [_shortcode(data["en"]), *(_shortcode(a) for a in data.get("alias", []))]
        rows.append({"e": char, "n": _shortcode(data["en"]).replace("_", " "),
                     "s": list(dict.fromkeys(codes))})
    popular = {char: i for i, char in enumerate(_split(POPULAR))}
    rows.sort(key=lambda r: (popular.get(r["e"], len(popular)), _block(r["e"]),
                             [ord(c) for c in r["e"]]))
    return rows


# Unicode blocks by their first code point, in the picker's order; anything else comes last.
_BLOCKS = [(0x1F600, 0x1F64F), (0x1F900, 0x1FAFF), (0x1F300, 0x1F5FF), (0x1F680, 0x1F6FF),
           (0x2000, 0x2BFF)]


def _block(char: str) -> int:
    first = ord(char[0])
    return next((i for i, (low, high) in enumerate(_BLOCKS) if low <= first <= high),
                len(_BLOCKS))


def _split(text: str) -> list[str]:
    """The emoji of a string of emoji (a variation selector stays with its character)."""
    return re.findall(".\ufe0f?", text)


@cache
def emoji_json() -> tuple[bytes, str]:
    """The list as JSON bytes and their ETag, built once per process."""
    body = json.dumps({"emoji": emoji_rows()}, ensure_ascii=False,
                      separators=(",", ":")).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
