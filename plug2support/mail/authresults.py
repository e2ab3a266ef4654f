"""Did the receiving server vouch for the From address (F3)? Read from its
Authentication-Results header (RFC 8601).

Only the topmost header counts: each server on the way adds its own above the others, so the
lower ones may have been written by the sender. A caller that knows its receiving servers
names their authserv-ids and then only their headers count (a header the sender forged sits
on top when no server of ours adds one).

Passed means: DMARC passed for the From domain; or, without a DMARC verdict (none,
temperror, permerror, or none given), a DKIM signature or the SPF envelope sender that passed
belongs to the From domain (relaxed alignment: the same domain or one inside the other).
A DMARC failure is a failure whatever SPF or DKIM say.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

HEADER_MAX_CHARS = 8000


@dataclass(frozen=True)
class Result:
    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


def _without_comments(value: str) -> str:
    """RFC 5322 comments (which may nest and hold ";") removed, quoted strings kept."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def parse_header(value: str) -> tuple[str, list[Result]]:
    """(authserv-id, the results) of one Authentication-Results value."""
    parts = _without_comments(value[:HEADER_MAX_CHARS]).split(";")
    head = parts[0].split()
    authserv = ""
    if head and "=" not in head[0]:
        authserv = head[0].lower()
        parts = parts[1:]
    # else Microsoft's servers, which write no authserv-id and start with the first result.
    results: list[Result] = []
    for part in parts:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        properties: dict[str, str] = {}
        for token in tokens[1:]:
            key, sign, prop = token.partition("=")
            if sign and "." in key:
                properties.setdefault(key.lower(), prop.strip('"').lower())
        results.append(Result(method.split("/")[0].lower(), result.strip('"').lower(),
                              properties))
    return authserv, results


def _domain(value: str) -> str:
    return value.rpartition("@")[2].strip("<>.").lower()


def _aligned(domain: str, from_domain: str) -> bool:
    return bool(domain) and (domain == from_domain or domain.endswith("." + from_domain)
                             or from_domain.endswith("." + domain))


def passed(results: Iterable[Result], from_domain: str) -> bool:
    if not from_domain:
        return False
    results = list(results)
    # A DMARC verdict about another From domain than the one we read (two From headers,
    # say) says nothing about ours.
    dmarc = [r.result for r in results if r.method == "dmarc"
             and _domain(r.properties.get("header.from", from_domain)) == from_domain]
    # Microsoft's "bestguesspass": no DMARC record published, but the check would pass.
    if "pass" in dmarc or "bestguesspass" in dmarc:
        return True
    if "fail" in dmarc:
        return False
    for r in results:
        if r.result != "pass":
            continue
        if r.method == "dkim":
            signer = r.properties.get("header.d") or _domain(r.properties.get("header.i", ""))
            if _aligned(signer, from_domain):
                return True
        elif r.method == "spf" and _aligned(
                _domain(r.properties.get("smtp.mailfrom", "")), from_domain):
            return True
    return False


def evaluate(values: Iterable[str], from_domain: str,
             authserv_ids: Collection[str] = ()) -> tuple[bool, bool, str]:
    """(checked, passed, summary) from the Authentication-Results values, topmost first."""
    trusted = {authserv.lower() for authserv in authserv_ids}
    for value in values:
        authserv, results = parse_header(value)
        if trusted and authserv not in trusted:
            continue
        summary = " ".join(dict.fromkeys(f"{r.method}={r.result}" for r in results))
        return True, passed(results, from_domain), summary or "none"
    return False, False, ""
