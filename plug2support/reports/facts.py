"""The facts behind every number of the reports (K4), as plain rows with ids and UTC times.

One row per conversation created, per stage change, per first response and resolution (with
the measure in wall-clock and business seconds), per satisfaction question and rating
(`satisfaction.facts`) and per SLA clock start, pause, resume, stop and breach
(`sla.facts`). The reports page computes its numbers from these rows only (numbers.py), and
the facts export writes the same rows, so anyone can recompute the page from the export
(docs/metrics.md, "Reports").

Rows are produced a week of the period at a time, sorted within it: a year's export streams
with at most a week's facts in memory, plus the conversations' dimensions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from plug2support.contacts.models import VisitorContact
from plug2support.conversations.metrics import compute
from plug2support.conversations.models import (
    Conversation,
    ConversationTag,
    Stage,
    StageChange,
)
from plug2support.satisfaction import facts as csat_facts
from plug2support.sla import facts as sla_facts
from plug2support.widgets.hours import Schedule
from plug2support.widgets.models import Widget

from .timing import business_seconds

# The export's columns, in order (docs/metrics.md lists what each holds per fact).
COLUMNS = ("fact", "at", "conversation_id", "widget_id", "channel", "org_id", "tag_ids",
           "operator_id", "from_stage", "to_stage", "by_id", "seconds", "business_seconds",
           "request_id", "rating_id", "score", "comment", "clock_id", "policy_id", "target",
           "elapsed_seconds", "target_seconds", "business_hours")
WINDOW = timedelta(days=7)
# Within one instant: what happened first in the product's own order.
_ORDER = {"created": 0, "stage_change": 1, "first_response": 2, "resolution": 3,
          "csat_asked": 4, "csat_rating": 5, "sla_start": 6, "sla_resume": 7, "sla_pause": 8,
          "sla_stop": 9, "sla_breach": 10}


@dataclass
class _Dimensions:
    """A conversation's widget, channel, org, tags and serving operator (as they are now)."""

    company_id: int
    known: dict[int, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[int, Schedule] = field(default_factory=dict)

    def load(self, ids: set[int]) -> None:
        missing = sorted(ids - self.known.keys())
        for at in range(0, len(missing), 1000):
            chunk = missing[at:at + 1000]
            rows = (Conversation.objects.filter(company_id=self.company_id, pk__in=chunk)
                    .values_list("pk", "widget_id", "channel", "assignee_id", "visitor_id"))
            visitors = {}
            for pk, widget_id, channel, assignee_id, visitor_id in rows:
                self.known[pk] = {"widget_id": widget_id, "channel": channel, "org_id": None,
                                  "tag_ids": "", "operator_id": assignee_id}
                visitors[visitor_id] = pk
            for visitor_id, org_id in (VisitorContact.objects
                                       .filter(visitor_id__in=visitors)
                                       .values_list("visitor_id", "contact__org_id")):
                self.known[visitors[visitor_id]]["org_id"] = org_id
            tags: dict[int, list[int]] = {}
            for conversation_id, tag_id in (ConversationTag.objects
                                            .filter(conversation_id__in=chunk)
                                            .order_by("tag_id")
                                            .values_list("conversation_id", "tag_id")):
                tags.setdefault(conversation_id, []).append(tag_id)
            for pk, ids_ in tags.items():
                self.known[pk]["tag_ids"] = ";".join(map(str, ids_))

    def schedule(self, widget_id: int) -> Schedule:
        if widget_id not in self.schedules:
            widget = Widget.objects.get(pk=widget_id)
            self.schedules[widget_id] = widget.schedule()
        return self.schedules[widget_id]


def _histories(ids: set[int]) -> dict[int, list[StageChange]]:
    changes: dict[int, list[StageChange]] = {pk: [] for pk in ids}
    ordered = sorted(ids)
    for at in range(0, len(ordered), 1000):
        for change in (StageChange.objects.filter(conversation_id__in=ordered[at:at + 1000])
                       .order_by("conversation_id", "at", "id")):
            changes[change.conversation_id].append(change)
    return changes


def _measures(dims: _Dimensions, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """first_response and resolution rows for the moves in [start, end) that make them."""
    moved = set(StageChange.objects.filter(
        company_id=dims.company_id, at__gte=start, at__lt=end,
        to_stage__in=(Stage.WAITING_ON_USER, Stage.RESOLVED)).order_by().values_list(
            "conversation_id", flat=True))
    if not moved:
        return
    created = dict(Conversation.objects.filter(pk__in=moved).values_list("pk", "created_at"))
    for pk, history in _histories(moved).items():
        first_stage = history[0].from_stage if history else Stage.NEW
        schedule = dims.schedule(dims.known[pk]["widget_id"])
        for i, change in enumerate(history):
            if change.at >= end:
                break
            if change.at < start or change.to_stage not in (Stage.WAITING_ON_USER,
                                                              Stage.RESOLVED):
                continue
            metrics = compute(created[pk], first_stage, history[:i + 1])
            if (change.from_stage == Stage.NEW and metrics.first_response is not None
                    and metrics.first_response_at == change.at):
                yield {"fact": "first_response", "at": change.at, "conversation_id": pk,
                       "seconds": metrics.first_response.total_seconds(),
                       "business_seconds": business_seconds(schedule, metrics, change.at)}
            if change.to_stage == Stage.RESOLVED and metrics.resolution is not None:
                yield {"fact": "resolution", "at": change.at, "conversation_id": pk,
                       "seconds": metrics.resolution.total_seconds(),
                       "business_seconds": business_seconds(schedule, metrics, change.at)}


def _window(dims: _Dimensions, start: datetime, end: datetime) -> list[dict[str, Any]]:
    # No model ordering and no server-side cursor: the window's rows are sorted here and held
    # anyway, and PostgreSQL plans a cursor for its first rows, which made it walk the
    # conversation index (StageChange's ordering) over every company's changes instead of
    # the (company, at) range: 1.4 s against 17 ms at a million conversations (bench/README).
    company_id = dims.company_id
    rows: list[dict[str, Any]] = []
    for pk, at in (Conversation.objects.filter(company_id=company_id, created_at__gte=start,
                                               created_at__lt=end)
                   .order_by().values_list("pk", "created_at")):
        rows.append({"fact": "created", "at": at, "conversation_id": pk})
    for conversation_id, from_stage, to_stage, at, by_id in (
            StageChange.objects.filter(company_id=company_id, at__gte=start, at__lt=end)
            .order_by().values_list("conversation_id", "from_stage", "to_stage", "at", "by_id")):
        rows.append({"fact": "stage_change", "at": at, "conversation_id": conversation_id,
                     "from_stage": from_stage, "to_stage": to_stage, "by_id": by_id})
    for row in csat_facts.facts(company_id, start, end):
        rows.append({"fact": row["fact"], "at": row["at"], "conversation_id":
                     row["conversation_id"], "request_id": row["request_id"],
                     "rating_id": row.get("rating_id"), "score": row.get("score"),
                     "comment": row.get("comment"), "csat_operator": row["operator_id"]})
    for row in sla_facts.facts(company_id, start, end):
        rows.append({"fact": f"sla_{row['fact']}", "at": row["at"],
                     "conversation_id": row["conversation_id"], "clock_id": row["clock_id"],
                     "policy_id": row["policy_id"], "target": row["target"],
                     "elapsed_seconds": row["elapsed_seconds"],
                     "target_seconds": row["target_seconds"],
                     "business_hours": row["business_hours"]})
    dims.load({row["conversation_id"] for row in rows})
    rows.extend(_measures(dims, start, end))
    for row in rows:
        row.update(dims.known[row["conversation_id"]])
        # A rating belongs to the operator who served at its resolution (satisfaction).
        if "csat_operator" in row:
            row["operator_id"] = row.pop("csat_operator")
    rows.sort(key=lambda row: (row["at"], _ORDER[row["fact"]], row["conversation_id"]))
    return rows


def facts(company_id: int, start: datetime, end: datetime,
          operator_id: int | None = None) -> Iterator[dict[str, Any]]:
    """The rows of [start, end) in time order; `operator_id`: only that operator's (an
    operator's own report: the rows attributed to them, docs/metrics.md)."""
    dims = _Dimensions(company_id)
    at = start
    while at < end:
        upto = min(at + WINDOW, end)
        for row in _window(dims, at, upto):
            if operator_id is None or row["operator_id"] == operator_id:
                yield row
        at = upto

