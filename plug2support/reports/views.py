"""The reports page (K1) and its exports (K4). Admins see the whole company's numbers, an
operator their own (the facts attributed to them, docs/metrics.md "Reports")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.widgets.models import Widget

from . import charts, tables
from .facts import facts
from .numbers import DIMENSIONS, Report, report
from .periods import PRESETS, Period, PeriodError, parse

TILES = ("created", "resolved", "first_response_median", "first_response_p90",
         "resolution_median", "resolution_p90", "csat_score", "csat_response_rate",
         "sla_achievement", "sla_breaches")


def company_zone(company_id: int) -> ZoneInfo:
    """The company's time zone: its first widget's (the one made at sign-up), else UTC."""
    name = (Widget.objects.filter(company_id=company_id).order_by("pk")
            .values_list("timezone", flat=True).first())
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _scope(membership: Membership) -> int | None:
    return None if membership.is_admin else membership.user_id


def _period(request: HttpRequest, membership: Membership) -> Period:
    return parse({key: str(request.GET.get(key, "")) for key in ("period", "from", "to")},
                 company_zone(membership.company_id), timezone.now())


def _report(membership: Membership, period: Period, sliced: bool = True) -> Report:
    return report(facts(membership.company_id, period.start, period.end, _scope(membership)),
                  period.days, period.tz, sliced)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{round(seconds)} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def shown(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "duration":
        return _duration(value)
    if kind == "share":
        return f"{value * 100:.0f}%"
    return str(value)


def _change(row: dict[str, Any]) -> dict[str, str] | None:
    """The tile's comparison with the previous period: its direction and whether better."""
    now, before = row["value"], row["previous"]
    if now is None or before is None or now == before:
        return None
    lower_is_better = row["kind"] == "duration" or row["key"] == "sla_breaches"
    better = (now < before) == lower_is_better
    if row["kind"] == "share":
        text = f"{(now - before) * 100:+.0f} pts"
    elif row["kind"] == "duration":
        text = ("−" if now < before else "+") + _duration(abs(now - before))
    else:
        text = f"{now - before:+d}"
    # More conversations is neither good nor bad; everything else has a better direction.
    tone = "neutral" if row["key"] == "created" else "better" if better else "worse"
    return {"text": text, "tone": tone}


@membership_required()
@require_GET
def reports(request: HttpRequest, membership: Membership) -> HttpResponse:
    context: dict[str, Any] = {"presets": PRESETS, "query": request.GET.urlencode(),
                               "everyone": membership.is_admin}
    try:
        period = _period(request, membership)
    except PeriodError as error:
        context.update(error=str(error), preset=request.GET.get("period", ""),
                       first=request.GET.get("from", ""), last=request.GET.get("to", ""))
        return render(request, "reports/reports.html", context, status=400)
    now = _report(membership, period)
    previous = _report(membership, period.previous(), sliced=False)
    labels = tables.names(membership.company_id, now)
    totals = tables.totals_rows(now, previous)
    for row in totals:
        row["shown"], row["previous_shown"] = (shown(row["value"], row["kind"]),
                                               shown(row["previous"], row["kind"]))
        row["change"] = _change(row)
    by = []
    for dimension in DIMENSIONS:
        rows = tables.by_rows(now, dimension, labels[dimension])
        for row in rows:
            row["cells"] = [shown(row[c], tables.KIND[c]) for c in tables.BY_COLUMNS]
        by.append({"key": dimension, "label": tables.DIMENSION_LABELS[dimension],
                   "rows": rows})
    daily = now.daily_rows()
    context.update(
        period=period, previous=period.previous(), preset=period.preset,
        first=period.first_day.isoformat(), last=period.last_day.isoformat(),
        tiles={row["key"]: row for row in totals}, totals=totals,
        tile_rows=[row for row in totals if row["key"] in TILES], daily=daily, by=by,
        bars=charts.bars(daily, f"Conversations created and resolved per day, {period.label()}"),
        heat=charts.heat_map(now.heat, "Conversations created by weekday and hour"),
        heat_rows=[(charts.WEEKDAYS[d], now.heat[d]) for d in range(7)],
        scores=charts.score_bars(now.total.scores, "Ratings by score, 1 to 5"),
        score_counts=list(enumerate(now.total.scores, start=1)),
        hours=range(24))
    return render(request, "reports/reports.html", context)


def _bad_period(error: PeriodError) -> HttpResponse:
    return HttpResponse(f"{error}\n", status=400, content_type="text/plain; charset=utf-8")


CHUNK_LINES = 1000


async def _in_chunks(lines: Iterator[str]) -> AsyncIterator[str]:
    """The lines, CHUNK_LINES at a time, each batch made in the request's own thread (the facts
    read the database there). Under ASGI Django would otherwise turn a plain iterator into a
    list first, holding a year's export in memory."""
    def take() -> str:
        return "".join(islice(lines, CHUNK_LINES))

    while part := await sync_to_async(take, thread_sensitive=True)():
        yield part


def _download(request: HttpRequest, lines: Iterator[str],
              filename: str) -> StreamingHttpResponse:
    content: Iterator[str] | AsyncIterator[str] = (
        _in_chunks(lines) if isinstance(request, ASGIRequest) else lines)
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@membership_required()
@require_GET
def export_table(request: HttpRequest, membership: Membership) -> HttpResponseBase:
    """GET table=<name>: one table of the page as CSV, the page's numbers unrounded."""
    name = request.GET.get("table", "")
    if name not in tables.TABLES:
        return HttpResponse("Unknown table: choose one of " + ", ".join(tables.TABLES) + ".\n",
                            status=400, content_type="text/plain; charset=utf-8")
    try:
        period = _period(request, membership)
    except PeriodError as error:
        return _bad_period(error)
    now = _report(membership, period)
    # Only the totals compare with the period before.
    previous = (_report(membership, period.previous(), sliced=False) if name == "totals"
                else Report(days=[], tz=period.tz))
    labels = tables.names(membership.company_id, now)
    return _download(request, tables.table_csv(name, now, previous, labels),
                     f"{name}-{period.first_day}-{period.last_day}.csv")


@membership_required()
@require_GET
def export_facts(request: HttpRequest, membership: Membership) -> HttpResponseBase:
    """The facts of the period as CSV, streamed (a year's never held in memory)."""
    try:
        period = _period(request, membership)
    except PeriodError as error:
        return _bad_period(error)
    rows = facts(membership.company_id, period.start, period.end, _scope(membership))
    return _download(request, tables.facts_csv(rows),
                     f"facts-{period.first_day}-{period.last_day}.csv")
