"""A conversation's work as the console shows it: its tickets and Hold dependencies (E1, E2).
Below `access` and `serializers`, which both send it."""

from __future__ import annotations

from typing import Any

from .people import user_ref


def ticket_payload(ticket: Any) -> dict[str, Any]:
    return {"id": ticket.pk, "title": ticket.title, "kind": ticket.kind,
            "needs_code_change": ticket.needs_code_change, "stage": ticket.stage,
            "tracker": ticket.tracker, "owner": user_ref(ticket.owner),
            "conversation": ticket.conversation_id}


def dependency_payload(dependency: Any) -> dict[str, Any]:
    return {"id": dependency.pk, "done": dependency.done,
            "ticket": ticket_payload(dependency.ticket) if dependency.ticket_id else None,
            "reviewer": user_ref(dependency.reviewer) if dependency.reviewer_id else None}
