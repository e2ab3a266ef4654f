"""A conversation measure (D6) in business hours: the same spans as the wall-clock one
(conversations/metrics.py: from the clock's start, less the Suspended spans), each counted
only while the widget's schedule is open (sla/business.py)."""

from __future__ import annotations

from datetime import datetime

from plug2support.conversations.metrics import Metrics
from plug2support.sla.business import counted
from plug2support.widgets.hours import Schedule


def business_seconds(schedule: Schedule, metrics: Metrics, at: datetime) -> float | None:
    if metrics.started_at is None:
        return None
    total = counted(schedule, metrics.started_at, at)
    for since, until in metrics.suspended:
        if since < at:
            total -= counted(schedule, max(since, metrics.started_at), min(until, at))
    return total
