"""The satisfaction facts for reports (issue 20, K4; docs/metrics.md "Satisfaction").

`facts(company_id, start, end)` yields plain dicts, in time order: one `csat_asked` per
resolution the visitor was asked to rate (asked_at in [start, end)) and one `csat_rating`
per answer (rated_at in [start, end)). Each read is one range scan of its company + time
index (csat_asked_by_time, csat_rated_by_time), streamed with iterator()."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .models import Rating, RatingRequest


def _asked(company_id: int, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    rows = (RatingRequest.objects.filter(company_id=company_id, asked_at__gte=start,
                                         asked_at__lt=end).order_by("asked_at", "pk")
            .values_list("pk", "conversation_id", "asked_at", "resolution_id", "channel",
                         "operator_id"))
    for pk, conversation_id, at, resolution_id, channel, operator_id in rows.iterator():
        yield {"fact": "csat_asked", "conversation_id": conversation_id, "at": at,
               "request_id": pk, "resolution_id": resolution_id, "channel": channel,
               "operator_id": operator_id}


def _rated(company_id: int, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    rows = (Rating.objects.filter(company_id=company_id, rated_at__gte=start, rated_at__lt=end)
            .order_by("rated_at", "pk")
            .values_list("pk", "conversation_id", "rated_at", "request_id",
                         "request__resolution_id", "request__asked_at", "score", "comment",
                         "channel", "operator_id"))
    for (pk, conversation_id, at, request_id, resolution_id, asked_at, score, comment, channel,
         operator_id) in rows.iterator():
        yield {"fact": "csat_rating", "conversation_id": conversation_id, "at": at,
               "rating_id": pk, "request_id": request_id, "resolution_id": resolution_id,
               "asked_at": asked_at, "score": score, "comment": comment, "channel": channel,
               "operator_id": operator_id}


def facts(company_id: int, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Both kinds merged in time order (UTC aware datetimes, start inclusive, end not)."""
    return heapq.merge(_asked(company_id, start, end), _rated(company_id, start, end),
                       key=lambda row: row["at"])


def csat_numbers(company_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """CSAT score and response rate of a period, from the facts (docs/metrics.md)."""
    asked = rated = happy = 0
    for row in facts(company_id, start, end):
        if row["fact"] == "csat_asked":
            asked += 1
        else:
            rated += 1
            happy += row["score"] >= 4
    return {"asked": asked, "ratings": rated, "satisfied": happy,
            "csat": happy / rated if rated else None,
            "response_rate": rated / asked if asked else None}
