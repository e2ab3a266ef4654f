"""The names of the hub's topics, in one place (the event layer): who hears an event.

Every publisher and every socket names its topics here, so no domain imports another's
actions just to name one, and a new topic is one function. Names are plain strings on the
bus; a session's is hashed, since session keys must never cross it."""

from __future__ import annotations

import hashlib


def conversation_topic(conversation_id: int) -> str:
    """A conversation's events for everyone in it: its visitor's tabs and the team."""
    return f"conv:{conversation_id}"


def staff_topic(conversation_id: int) -> str:
    """A conversation's team-only events (notes, transfer negotiations): operators only."""
    return f"conv:{conversation_id}:staff"


def company_topic(company_id: int) -> str:
    """Every operator socket of the company: inbox summaries, presence."""
    return f"company:{company_id}"


def visitor_topic(visitor_id: int) -> str:
    """Every open tab of one visitor: told when a conversation starts in another tab."""
    return f"visitor:{visitor_id}"


def member_topic(company_id: int, user_id: int) -> str:
    """One operator's console sockets in one company: transfer requests, notifications."""
    return f"member:{company_id}:{user_id}"


def availability_topic(company_id: int) -> str:
    """Every visitor socket of the company's widgets."""
    return f"availability:{company_id}"


def session_topic(session_key: str) -> str:
    """The operator sockets opened with one login session. Hashed: keys never cross the bus."""
    return "session:" + hashlib.sha256(session_key.encode()).hexdigest()[:32]
