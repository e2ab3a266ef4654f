"""Every number of the reports page (K1), computed from the facts rows only (facts.py), by
the definitions of docs/metrics.md, "Reports". Pure: rows in, numbers out."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

DIMENSIONS = ("operator", "widget", "channel", "tag", "org")


def nearest_rank(values: list[float], percent: int) -> float | None:
    """The nearest-rank percentile: the ⌈p/100 × n⌉-th smallest value (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


@dataclass
class Tally:
    """The numbers of one slice (the whole period, or one operator, widget…)."""

    created: int = 0
    resolved: int = 0
    first_response: list[float] = field(default_factory=list)
    first_response_bh: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    resolution_bh: list[float] = field(default_factory=list)
    asked: int = 0
    ratings: int = 0
    satisfied: int = 0
    scores: list[int] = field(default_factory=lambda: [0] * 5)
    breaches: int = 0
    # clock id → (elapsed, target) at its last stop in the period
    stops: dict[int, tuple[float, float]] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        fact = row["fact"]
        if fact == "created":
            self.created += 1
        elif fact == "stage_change" and row["to_stage"] == "resolved":
            self.resolved += 1
        elif fact == "first_response":
            self.first_response.append(row["seconds"])
            if row["business_seconds"] is not None:
                self.first_response_bh.append(row["business_seconds"])
        elif fact == "resolution":
            self.resolution.append(row["seconds"])
            if row["business_seconds"] is not None:
                self.resolution_bh.append(row["business_seconds"])
        elif fact == "csat_asked":
            self.asked += 1
        elif fact == "csat_rating":
            self.ratings += 1
            self.satisfied += row["score"] >= 4
            self.scores[row["score"] - 1] += 1
        elif fact == "sla_breach":
            self.breaches += 1
        elif fact == "sla_stop":
            self.stops[row["clock_id"]] = (row["elapsed_seconds"], row["target_seconds"])

    def summary(self) -> dict[str, Any]:
        met = sum(1 for elapsed, target in self.stops.values() if elapsed <= target)
        missed = len(self.stops) - met
        return {
            "created": self.created, "resolved": self.resolved,
            "first_response_median": nearest_rank(self.first_response, 50),
            "first_response_p90": nearest_rank(self.first_response, 90),
            "first_response_bh_median": nearest_rank(self.first_response_bh, 50),
            "first_response_bh_p90": nearest_rank(self.first_response_bh, 90),
            "resolution_median": nearest_rank(self.resolution, 50),
            "resolution_p90": nearest_rank(self.resolution, 90),
            "resolution_bh_median": nearest_rank(self.resolution_bh, 50),
            "resolution_bh_p90": nearest_rank(self.resolution_bh, 90),
            "csat_asked": self.asked, "csat_ratings": self.ratings,
            "csat_score": self.satisfied / self.ratings if self.ratings else None,
            "csat_response_rate": self.ratings / self.asked if self.asked else None,
            "sla_met": met, "sla_missed": missed,
            "sla_achievement": met / (met + missed) if met + missed else None,
            "sla_breaches": self.breaches,
        }


def _keys(row: dict[str, Any], dimension: str) -> list[str]:
    """The slices of a dimension a row counts in ("" for none: no operator, no org…)."""
    if dimension == "tag":
        return row["tag_ids"].split(";") if row["tag_ids"] else [""]
    value = row[{"operator": "operator_id", "widget": "widget_id", "channel": "channel",
                 "org": "org_id"}[dimension]]
    return ["" if value is None else str(value)]


@dataclass
class Report:
    days: list[date]
    tz: ZoneInfo
    # The previous period is only compared in total: its slices are not counted.
    sliced: bool = True
    total: Tally = field(default_factory=Tally)
    daily: dict[date, list[int]] = field(default_factory=dict)  # day → [created, resolved]
    heat: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    by: dict[str, dict[str, Tally]] = field(
        default_factory=lambda: {dimension: {} for dimension in DIMENSIONS})

    def add(self, row: dict[str, Any]) -> None:
        self.total.add(row)
        local = row["at"].astimezone(self.tz)
        if row["fact"] == "created":
            self.daily.setdefault(local.date(), [0, 0])[0] += 1
            self.heat[local.weekday()][local.hour] += 1
        elif row["fact"] == "stage_change" and row["to_stage"] == "resolved":
            self.daily.setdefault(local.date(), [0, 0])[1] += 1
        if not self.sliced:
            return
        for dimension in DIMENSIONS:
            for key in _keys(row, dimension):
                self.by[dimension].setdefault(key, Tally()).add(row)

    def daily_rows(self) -> list[tuple[date, int, int]]:
        counts = {day: self.daily.get(day, [0, 0]) for day in self.days}
        return [(day, created, resolved) for day, (created, resolved) in counts.items()]


def report(rows: Iterable[dict[str, Any]], days: list[date], tz: ZoneInfo,
           sliced: bool = True) -> Report:
    result = Report(days=days, tz=tz, sliced=sliced)
    for row in rows:
        result.add(row)
    return result
