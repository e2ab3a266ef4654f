"""E-mail domains, the key that puts a contact in a customer org."""

from __future__ import annotations

import re

LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
TLD_RE = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")

# Everyone's addresses: a customer org by one of these would swallow unrelated people.
PUBLIC_EMAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "hotmail.com", "outlook.com",
    "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
    "protonmail.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "mail.ru",
    "yandex.ru", "yandex.com", "qq.com", "163.com", "126.com", "zoho.com", "fastmail.com",
    "hey.com", "tutanota.com", "orange.fr", "free.fr", "laposte.net", "libero.it",
})


def normalise_domain(value: str) -> str:
    """'Example.COM' → 'example.com', IDN → punycode; '' when it is not a domain name."""
    value = value.strip().rstrip(".").lower()
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2:
        return ""
    if not all(LABEL_RE.fullmatch(label) for label in labels):
        return ""
    if not TLD_RE.fullmatch(labels[-1]):
        return ""
    return value


def email_domain(email: str) -> str:
    """The normalised domain of an address; '' when there is none."""
    _, at, domain = email.rpartition("@")
    return normalise_domain(domain) if at else ""


def domain_and_parents(domain: str) -> list[str]:
    """'eu.shop.example.com' → itself, 'shop.example.com', 'example.com' (most specific
    first; never a bare top-level domain)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]
