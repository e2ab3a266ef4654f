"""The reports' tables (K1, K4): the same rows for the page and for each CSV export, so a
CSV holds exactly the numbers the page shows (unrounded: seconds and ratios)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC as _UTC
from typing import Any

from plug2support.accounts.models import User
from plug2support.contacts.models import CustomerOrg
from plug2support.conversations.models import Tag
from plug2support.widgets.models import Widget

from .charts import WEEKDAYS
from .facts import COLUMNS
from .numbers import DIMENSIONS, Report

TOTALS = (
    ("created", "Conversations created", "count"),
    ("resolved", "Conversations resolved", "count"),
    ("first_response_median", "Time to first response, median", "duration"),
    ("first_response_p90", "Time to first response, 90th percentile", "duration"),
    ("first_response_bh_median", "Time to first response, median (business hours)", "duration"),
    ("first_response_bh_p90", "Time to first response, 90th percentile (business hours)",
     "duration"),
    ("resolution_median", "Resolution time, median", "duration"),
    ("resolution_p90", "Resolution time, 90th percentile", "duration"),
    ("resolution_bh_median", "Resolution time, median (business hours)", "duration"),
    ("resolution_bh_p90", "Resolution time, 90th percentile (business hours)", "duration"),
    ("csat_score", "CSAT score (4 or 5 of 5)", "share"),
    ("csat_response_rate", "CSAT response rate", "share"),
    ("csat_ratings", "Ratings", "count"),
    ("sla_achievement", "Service targets met", "share"),
    ("sla_breaches", "Service target breaches", "count"),
)
KIND = {key: kind for key, _, kind in TOTALS}
BY_COLUMNS = ("created", "resolved", "first_response_median", "first_response_p90",
              "resolution_median", "resolution_p90", "csat_score", "csat_response_rate",
              "sla_achievement", "sla_breaches")
DIMENSION_LABELS = {"operator": "Operator", "widget": "Widget", "channel": "Channel",
                    "tag": "Tag", "org": "Customer org"}
BY_HEADINGS = ("Created", "Resolved", "First response, median", "First response, p90",
               "Resolution, median", "Resolution, p90", "CSAT", "Rated", "Targets met",
               "Breaches")
TABLES = ("totals", "daily", "heat_map", *(f"by_{d}" for d in DIMENSIONS))


def names(company_id: int, report: Report) -> dict[str, dict[str, str]]:
    """The readable name of every slice key, looked up within the company only."""
    def ids(dimension: str) -> list[int]:
        return [int(key) for key in report.by[dimension] if key]

    found = {
        "operator": {str(pk): name or email for pk, name, email in User.objects.filter(
            memberships__company_id=company_id, pk__in=ids("operator"))
            .values_list("pk", "name", "email")},
        "widget": {str(pk): name for pk, name in Widget.objects.filter(
            company_id=company_id, pk__in=ids("widget")).values_list("pk", "name")},
        "tag": {str(pk): name for pk, name in Tag.objects.filter(
            company_id=company_id, pk__in=ids("tag")).values_list("pk", "name")},
        "org": {str(pk): name for pk, name in CustomerOrg.objects.filter(
            company_id=company_id, pk__in=ids("org")).values_list("pk", "name")},
        "channel": {"chat": "Widget", "email": "E-mail"},
    }
    none = {"operator": "Unassigned", "widget": "—", "tag": "No tag", "org": "No org",
            "channel": "—"}
    for dimension in DIMENSIONS:
        found[dimension][""] = none[dimension]
    return found


def totals_rows(report: Report, previous: Report) -> list[dict[str, Any]]:
    now, before = report.total.summary(), previous.total.summary()
    return [{"key": key, "label": label, "kind": kind, "value": now[key],
             "previous": before[key]} for key, label, kind in TOTALS]


def by_rows(report: Report, dimension: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for key, tally in report.by[dimension].items():
        summary = tally.summary()
        rows.append({"key": key, "name": labels.get(key, f"#{key}"),
                     **{column: summary[column] for column in BY_COLUMNS}})
    rows.sort(key=lambda row: (-row["created"], -row["resolved"], row["name"]))
    return rows


def _cell(value: Any) -> Any:
    """A cell as a spreadsheet should read it: no formula from someone's text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(list(header))
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


def table_csv(name: str, report: Report, previous: Report,
              labels: dict[str, dict[str, str]]) -> Iterator[str]:
    if name == "totals":
        return csv_lines(("metric", "value", "previous_period"),
                         ((row["key"], row["value"], row["previous"])
                          for row in totals_rows(report, previous)))
    if name == "daily":
        return csv_lines(("day", "created", "resolved"), report.daily_rows())
    if name == "heat_map":
        return csv_lines(("weekday", "hour", "created"),
                         ((WEEKDAYS[d], h, report.heat[d][h]) for d in range(7)
                          for h in range(24)))
    dimension = name.removeprefix("by_")
    return csv_lines((dimension, "name", *BY_COLUMNS),
                     ((row["key"], row["name"], *(row[c] for c in BY_COLUMNS))
                      for row in by_rows(report, dimension, labels[dimension])))


def facts_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    def at_utc(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "at": row["at"].astimezone(_UTC).isoformat().replace("+00:00", "Z")}
    return csv_lines(COLUMNS, ([at_utc(row).get(c) for c in COLUMNS] for row in rows))

