"""The visitor's country for the sidebar (M8), from the operator's own GeoIP2 / GeoLite2
Country or City database (GEOIP_PATH; nothing is downloaded). collect.py asks it once per
widget session and keeps only the ISO code and the English name: the address is looked up
and forgotten, never stored.

The database is opened once per process (memory-mapped by the reader) and kept; a path that
is missing, unreadable, corrupt or of another kind of database (ASN, ISP) is logged once
and then treated as no database: the sidebar says the country was not collected."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
# path → (the open reader, whether it is a City database), or None when it cannot be used.
_readers: dict[str, tuple[Any, bool] | None] = {}


@dataclass(frozen=True)
class Country:
    iso_code: str
    name: str


def configured() -> bool:
    """A database is configured and could be opened (what the sidebar says otherwise)."""
    return _reader() is not None


def _open(path: str) -> tuple[Any, bool] | None:
    import geoip2.database
    import maxminddb

    try:
        reader = geoip2.database.Reader(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        log.warning("GEOIP_PATH cannot be read as a GeoIP2 database (%s): the sidebar's "
                    "country is not collected", type(error).__name__)
        return None
    kind = reader.metadata().database_type
    if "City" not in kind and "Country" not in kind:
        log.warning("GEOIP_PATH is a %s database, not a Country or City one: the sidebar's "
                    "country is not collected", kind[:40])
        reader.close()
        return None
    return reader, "City" in kind


def _reader() -> tuple[Any, bool] | None:
    path = getattr(settings, "GEOIP_PATH", "")
    if not path:
        return None
    if path not in _readers:
        with _lock:  # the sockets' database threads collect at once: one open, one warning
            if path not in _readers:
                _readers[path] = _open(path)
    return _readers[path]


def country_of(address: str) -> Country | None:
    """The country of an IPv4 or IPv6 address, or None (no database, an address it does not
    know, a private or malformed address)."""
    opened = _reader()
    if opened is None or not address:
        return None
    import geoip2.errors
    import maxminddb

    reader, city = opened
    try:
        found = (reader.city(address) if city else reader.country(address)).country
    except (geoip2.errors.AddressNotFoundError, ValueError, maxminddb.InvalidDatabaseError):
        return None
    if not found.iso_code:
        return None
    return Country(found.iso_code[:2].upper(), (found.name or "")[:80])


def forget_readers() -> None:
    """Close the open databases (tests that point GEOIP_PATH elsewhere; a reload)."""
    with _lock:
        for opened in _readers.values():
            if opened is not None:
                opened[0].close()
        _readers.clear()
