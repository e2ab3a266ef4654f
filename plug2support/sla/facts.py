"""The read API the reports use (K4): the SLA clocks' facts of a company over a period, as
plain rows (docs/metrics.md, "Service targets"), streamed from the (company, at) index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .models import SlaFact

FIELDS = ("id", "fact", "conversation_id", "clock_id", "policy_id_at", "target", "at",
          "elapsed_seconds", "target_seconds", "business_hours")


def facts(company_id: int, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """One row per clock start, pause, resume, stop and breach with `at` in [start, end),
    in time order: {fact, conversation_id, at (aware UTC), clock_id, policy_id, target,
    elapsed_seconds, target_seconds, business_hours}. `elapsed_seconds` is the target's
    measure counted by then; a stop with elapsed > target is a missed target, and the
    difference its overdue time."""
    rows = (SlaFact.objects.filter(company_id=company_id, at__gte=start, at__lt=end)
            .order_by("at", "id").values_list(*FIELDS))
    for row in rows.iterator(chunk_size=2000):
        values = dict(zip(FIELDS, row, strict=True))
        values["policy_id"] = values.pop("policy_id_at")
        values.pop("id")
        yield values
