"""Routing (D8): which rule, if any, a new conversation's first message matches."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .models import RoutingRule

KEYWORDS_MAX = 50
KEYWORD_MAX_CHARS = 60


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A whole word or phrase, any case, any run of spaces between its words."""
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def matches(rule: RoutingRule, text: str) -> bool:
    return any(keyword_pattern(k).search(text) for k in rule.keyword_list)


def first_match(rules: Iterable[RoutingRule], text: str) -> RoutingRule | None:
    return next((rule for rule in rules if matches(rule, text)), None)


def check_keywords(raw: str) -> list[str]:
    """The keywords of a rule, one per line; refuses an empty or absurdly long list."""
    keywords = list(dict.fromkeys(" ".join(k.split()) for k in raw.splitlines() if k.strip()))
    if not keywords:
        raise ValueError("Give at least one keyword (one per line).")
    if len(keywords) > KEYWORDS_MAX:
        raise ValueError(f"At most {KEYWORDS_MAX} keywords per rule.")
    long = [k for k in keywords if len(k) > KEYWORD_MAX_CHARS]
    if long:
        raise ValueError(f"A keyword is at most {KEYWORD_MAX_CHARS} characters: {long[0][:20]}…")
    if not any(re.search(r"\w", k) for k in keywords):
        raise ValueError("Keywords need letters or digits.")
    return keywords
