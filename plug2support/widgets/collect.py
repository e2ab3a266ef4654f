"""What the sidebar knows about a visitor's browser (M8), collected in this one place so a
privacy mode (issue 22) can gate it: the User-Agent header, the language and the IANA time
zone the widget frame sends with its session call, and the country of the address the
session came from (geoip.py, when the operator configured a database; the address itself is
never stored). Unknown stays empty ("not collected")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from .geoip import country_of
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


def collect_browser(visitor: Visitor, headers: Mapping[str, str], body: dict[str, Any],
                    ip: str = "") -> None:
    """From the widget socket's hello (or the session call): headers, the frame's
    `language` / `timezone` fields, and the client's address as the rest of the product
    takes it (REMOTE_ADDR / the socket's client, which uvicorn's proxy headers set behind a
    trusted proxy): only its country is kept."""
    accept = headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    country = country_of(ip)
    fields = {"user_agent": headers.get("User-Agent", "")[:500],
              "language": clean_language(body.get("language")) or clean_language(accept),
              "time_zone": clean_time_zone(body.get("timezone")),
              "country": country.iso_code if country else "",
              "country_name": country.name if country else ""}
    fields = {k: v for k, v in fields.items() if v and getattr(visitor, k) != v}
    if fields:
        Visitor.objects.filter(pk=visitor.pk).update(**fields)
        for name, value in fields.items():
            setattr(visitor, name, value)
