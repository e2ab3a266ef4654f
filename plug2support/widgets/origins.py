"""Allowed origins (B6): what an admin types, stored and compared in the one form browsers
send — the `Origin` header, `event.origin` of a postMessage, a CSP source. A browser writes
the scheme and host in lower case, the host in its IDNA (punycode) form, and no port when it
is the scheme's default; an origin stored any other way never matches and the widget
silently disappears from the site (config answers 403, the frame refuses to be shown)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443}
# An ASCII host as it may appear in a CSP source and an Origin header: no ';', ',', quotes
# or spaces, which would end the directive or the list.
ASCII_HOST = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?")
# A stored line that no longer parses (saved before these checks) stands for this: it
# matches no origin, and the widget stays closed to other sites rather than open to all
# (an empty list means any site). "'none'" is also what CSP's frame-ancestors reads as none.
NO_ORIGIN = "'none'"


class InvalidOrigin(ValueError):
    """Not an origin; the message says why, for the form."""


def parse_origin(value: str) -> str:
    """'https://Shop.Example:443/path' → 'https://shop.example'; 'https://bücher.example' →
    'https://xn--bcher-kva.example'. Raises InvalidOrigin."""
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidOrigin(f"Not an origin (like https://www.example.com): {text}")
    if parts.username is not None or parts.password is not None:
        raise InvalidOrigin(f"An origin has no user name or password: {text}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise InvalidOrigin(f"The port must be a number from 1 to 65535: {text}")
    host = _host(parts.hostname, text)
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _host(hostname: str, text: str) -> str:
    if ":" in hostname:  # urlsplit gives an IPv6 literal without its brackets
        try:
            return f"[{ipaddress.IPv6Address(hostname).compressed}]"
        except ValueError:
            raise InvalidOrigin(f"Not a valid IPv6 address: {text}") from None
    if not hostname.isascii():
        try:
            # UTS #46 without the transitional mapping, as browsers do ('ß' stays 'ß').
            hostname = idna.encode(hostname, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError:
            raise InvalidOrigin(f"Not a valid international domain name: {text}") from None
    hostname = hostname.lower()
    if not ASCII_HOST.fullmatch(hostname):
        raise InvalidOrigin(f"Not a valid host name: {text}")
    return hostname


def normalise_origin(value: str) -> str:
    """The origin in the form browsers send it; '' when it is not an origin."""
    try:
        return parse_origin(value)
    except InvalidOrigin:
        return ""


def stored_origins(text: str) -> list[str]:
    """A widget's allowed origins as stored (one a line), each in the browsers' form — rows
    saved before an origin was normalised this way match too — and NO_ORIGIN for a line that
    does not parse (never an empty list for a non-empty text: that would allow any site)."""
    return list(dict.fromkeys(normalise_origin(line) or NO_ORIGIN for line in text.split()))
