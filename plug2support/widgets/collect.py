"""What the sidebar knows about a visitor's browser (M8), collected in this one place so a
privacy mode (issue 22) can gate it: the User-Agent header, the language and the IANA time
zone the widget frame sends with its session call. Unknown stays empty ("not collected")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from .models import Visitor

LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}$")
_ZONES = frozenset(available_timezones())


def clean_time_zone(value: object) -> str:
    if isinstance(value, str) and value in _ZONES:
        ZoneInfo(value)
        return value
    return ""


def clean_language(value: object) -> str:
    if isinstance(value, str) and LANGUAGE.match(value) and len(value) <= 35:
        return value
    return ""


def collect_browser(visitor: Visitor, headers: Mapping[str, str], body: dict[str, Any]) -> None:
    """From the widget socket's hello (or the session call): headers and the frame's
    `language` / `timezone` fields."""
    accept = headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    fields = {"user_agent": headers.get("User-Agent", "")[:500],
              "language": clean_language(body.get("language")) or clean_language(accept),
              "time_zone": clean_time_zone(body.get("timezone"))}
    fields = {k: v for k, v in fields.items() if v and getattr(visitor, k) != v}
    if fields:
        Visitor.objects.filter(pk=visitor.pk).update(**fields)
        for name, value in fields.items():
            setattr(visitor, name, value)
