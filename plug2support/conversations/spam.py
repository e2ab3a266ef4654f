"""The spam filter (D3): a new conversation that looks like spam starts in Suspended, where
it makes no noise (no routing, no notification, no sound) until a reviewer moves it to New.

Deliberately simple and explainable: each check gives the reason shown to the reviewer.
"""

from __future__ import annotations

import re

from django.utils import timezone

from plug2support.lib.ratelimit import hit

URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
# Phrases that in practice only ever come from spam bots.
KNOWN_BAD = re.compile(
    r"\b(viagra|cialis|casino bonus|crypto giveaway|double your bitcoin|seo services?|"
    r"backlinks?|buy followers|payday loans?|escort service)\b", re.IGNORECASE)
MAX_NEW_CONVERSATIONS_PER_VISITOR_PER_DAY = 5
MAX_NEW_CONVERSATIONS_PER_IP_PER_HOUR = 10


def links_only(text: str) -> bool:
    """Three or more links, or a message that is nothing but links."""
    links = URL.findall(text)
    if len(links) >= 3:
        return True
    rest = URL.sub("", text)
    return bool(links) and not re.search(r"\w", rest)


def suspicion(text: str, *, honeypot: object, visitor_id: int, ip: str,
              recent_conversations: int) -> str | None:
    """Why this new conversation looks like spam, or None. Counts toward the rate limits."""
    if isinstance(honeypot, str) and honeypot.strip():
        return "a field people never see was filled in (a bot)"
    if KNOWN_BAD.search(text):
        return "known spam wording"
    if links_only(text):
        return "a message made of links"
    if recent_conversations >= MAX_NEW_CONVERSATIONS_PER_VISITOR_PER_DAY:
        return "too many new conversations from this visitor today"
    if ip and not hit(f"spam-ip:{ip}:{timezone.now():%Y%m%d%H}",
                      MAX_NEW_CONVERSATIONS_PER_IP_PER_HOUR, 3600):
        return "too many new conversations from this address"
    return None
