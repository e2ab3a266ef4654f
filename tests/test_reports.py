"""Reports (K1, K4): every number on the page recomputed from the facts export by a short,
independent script (plain Python over the CSV, none of the product's code), for a period
built with the worked cases of docs/metrics.md "Reports": a reopen, time in Suspended,
business hours across a weekend and a holiday, a transfer, a conversation that spans the
period's start, ratings and SLA clocks with a breach. Both databases run it."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.teamwork import do_reassign
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Stage
from plug2support.satisfaction.models import RatingRequest
from plug2support.satisfaction.rating import do_rate
from plug2support.sla.due import check_due
from plug2support.sla.models import SlaPolicy
from plug2support.widgets.models import Holiday, OpeningHours

from .conftest import PASSWORD, Tenant, logged_in_client
from .test_sla_clocks import customer, move

MON = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; the period is 2–15 March 2026 (UTC)
PERIOD = {"period": "custom", "from": "2026-03-02", "to": "2026-03-15"}


def at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


def chat(tenant: Tenant, when: datetime, key: str) -> Conversation:
    with time_machine.travel(when, tick=False):
        visitor, _ = do_identify_visitor(tenant.widget, None)
        posted = do_post_visitor_message(visitor, client_id=f"v-{key}", body="Hello")
    return Conversation.objects.get(pk=posted.event.conversation_id)


def reply(tenant: Tenant, conversation: Conversation, when: datetime, who: int = 0) -> None:
    with time_machine.travel(when, tick=False):
        do_post_operator_message(tenant.membership(tenant.operators[who]), conversation,
                                 client_id=f"o-{when.timestamp()}", body="On it")


def claim(tenant: Tenant, conversation: Conversation, who: int, when: datetime) -> None:
    with time_machine.travel(when, tick=False):
        do_reassign(tenant.membership(tenant.owner), conversation, tenant.operators[who].pk)


def rate(conversation: Conversation, score: int, when: datetime) -> None:
    request = RatingRequest.objects.filter(conversation=conversation).order_by("-pk").first()
    assert request is not None
    with time_machine.travel(when, tick=False):
        do_rate(request, score, "", f"r-{conversation.pk}-{when.timestamp()}")


def build_period(tenant: Tenant) -> None:
    """The worked cases (docs/metrics.md "Reports", worked examples)."""
    widget = tenant.widget
    widget.hours_enabled = True
    widget.save()
    for weekday in range(5):
        OpeningHours.objects.create(widget=widget, weekday=weekday, opens=time(9),
                                    closes=time(17))
    Holiday.objects.create(widget=widget, date=date(2026, 3, 9), name="Holiday")
    SlaPolicy.objects.create(company=tenant.company, name="Standard",
                             first_response_minutes=60, resolution_minutes=120,
                             business_hours=False)
    # Spans the period's start: created Friday 27 February, resolved in the period.
    edge = chat(tenant, datetime(2026, 2, 27, 16, tzinfo=UTC), "edge")
    claim(tenant, edge, 0, datetime(2026, 2, 27, 16, 5, tzinfo=UTC))
    reply(tenant, edge, datetime(2026, 2, 27, 16, 30, tzinfo=UTC))
    move(tenant, edge, Stage.RESOLVED, at(MON, 10))
    rate(edge, 5, at(MON, 10, 5))
    # A reopen: resolved, the customer writes again, resolved again (two resolutions).
    reopened = chat(tenant, at(MON, 9), "reopen")
    claim(tenant, reopened, 0, at(MON, 9, 1))
    reply(tenant, reopened, at(MON, 9, 12))
    move(tenant, reopened, Stage.RESOLVED, at(MON, 9, 45))
    rate(reopened, 2, at(MON, 9, 50))
    customer(reopened, at(MON, 14))
    move(tenant, reopened, Stage.RESOLVED, at(MON, 15))
    # Suspended time is not counted.
    suspended = chat(tenant, at(MON, 11), "suspended")
    move(tenant, suspended, Stage.SUSPENDED, at(MON, 11, 5))
    move(tenant, suspended, Stage.NEW, at(MON, 13))
    claim(tenant, suspended, 1, at(MON, 13, 1))
    reply(tenant, suspended, at(MON, 13, 10), who=1)
    # Business hours across a weekend and Monday 9 March's holiday: 90 business minutes.
    weekend = chat(tenant, datetime(2026, 3, 6, 16, tzinfo=UTC), "weekend")
    claim(tenant, weekend, 1, datetime(2026, 3, 6, 16, 1, tzinfo=UTC))
    reply(tenant, weekend, datetime(2026, 3, 10, 9, 30, tzinfo=UTC), who=1)
    move(tenant, weekend, Stage.RESOLVED, datetime(2026, 3, 10, 9, 40, tzinfo=UTC))
    rate(weekend, 4, datetime(2026, 3, 10, 9, 41, tzinfo=UTC))
    # A transfer: claimed by one operator, handed to the other, who answers; the SLA job
    # records the first response target's breach (60 min) before the reply.
    transfer = chat(tenant, at(MON + timedelta(days=1), 9), "transfer")
    claim(tenant, transfer, 0, at(MON + timedelta(days=1), 9, 2))
    claim(tenant, transfer, 1, at(MON + timedelta(days=1), 9, 30))
    with time_machine.travel(at(MON + timedelta(days=1), 10, 1), tick=False):
        check_due(at(MON + timedelta(days=1), 10, 1))
    reply(tenant, transfer, at(MON + timedelta(days=1), 10, 20), who=1)
    move(tenant, transfer, Stage.RESOLVED, at(MON + timedelta(days=1), 10, 30))
    # After the period: nothing of it counts.
    chat(tenant, datetime(2026, 3, 16, 9, tzinfo=UTC), "after")


# --- the independent script: plain Python over the CSV ------------------------------------

def rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[max(math.ceil(p * len(values) / 100), 1) - 1]


def parse_at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def tally(rows: list[dict[str, str]]) -> dict[str, Any]:
    def values(fact: str, column: str) -> list[float]:
        return [float(r[column]) for r in rows if r["fact"] == fact and r[column] != ""]
    ratings = [int(r["score"]) for r in rows if r["fact"] == "csat_rating"]
    asked = sum(r["fact"] == "csat_asked" for r in rows)
    last_stop: dict[str, tuple[float, float]] = {}
    for r in rows:
        if r["fact"] == "sla_stop":
            last_stop[r["clock_id"]] = (float(r["elapsed_seconds"]), float(r["target_seconds"]))
    met = sum(e <= t for e, t in last_stop.values())
    return {
        "created": sum(r["fact"] == "created" for r in rows),
        "resolved": sum(r["fact"] == "stage_change" and r["to_stage"] == "resolved"
                        for r in rows),
        "first_response_median": rank(values("first_response", "seconds"), 50),
        "first_response_p90": rank(values("first_response", "seconds"), 90),
        "first_response_bh_median": rank(values("first_response", "business_seconds"), 50),
        "first_response_bh_p90": rank(values("first_response", "business_seconds"), 90),
        "resolution_median": rank(values("resolution", "seconds"), 50),
        "resolution_p90": rank(values("resolution", "seconds"), 90),
        "resolution_bh_median": rank(values("resolution", "business_seconds"), 50),
        "resolution_bh_p90": rank(values("resolution", "business_seconds"), 90),
        "csat_score": sum(s >= 4 for s in ratings) / len(ratings) if ratings else None,
        "csat_response_rate": len(ratings) / asked if asked else None,
        "csat_ratings": len(ratings),
        "sla_achievement": met / len(last_stop) if last_stop else None,
        "sla_breaches": sum(r["fact"] == "sla_breach" for r in rows),
    }


def first_responses_from_stage_changes(rows: list[dict[str, str]]) -> dict[str, float]:
    """Wall-clock first response of each conversation created in the period, from its
    `created` and `stage_change` rows alone: the clock starts in New, Suspended spans do
    not count, it stops at the first New → Waiting on user."""
    result = {}
    for cid in {r["conversation_id"] for r in rows if r["fact"] == "created"}:
        mine = [r for r in rows if r["conversation_id"] == cid
                and r["fact"] in ("created", "stage_change")]
        started = parse_at(mine[0]["at"])
        paused = 0.0
        since = None
        for r in mine[1:]:
            when = parse_at(r["at"])
            if r["to_stage"] == "suspended":
                since = when
            elif r["from_stage"] == "suspended" and since is not None:
                paused += (when - since).total_seconds()
                since = None
            if r["from_stage"] == "new" and r["to_stage"] == "waiting_on_user":
                result[cid] = (when - started).total_seconds() - paused
                break
    return result


def read_csv(client: Client, url: str, params: dict[str, str]) -> list[dict[str, str]]:
    response = client.get(url, params)
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(text)))


def number(text: str) -> Any:
    if text == "":
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


@pytest.mark.django_db
def test_every_number_of_the_page_is_recomputed_from_the_facts_export(
        acme: Tenant, globex: Tenant) -> None:
    build_period(acme)
    chat(globex, at(MON, 9), "other-company")  # never in Acme's numbers
    client = logged_in_client(acme.owner)
    facts = read_csv(client, "/reports/facts.csv", PERIOD)
    assert {r["fact"] for r in facts} >= {"created", "stage_change", "first_response",
                                          "resolution", "csat_asked", "csat_rating",
                                          "sla_start", "sla_stop", "sla_breach"}
    ours = set(Conversation.objects.filter(company=acme.company).values_list("pk", flat=True))
    assert {int(r["conversation_id"]) for r in facts} <= {str(pk) and pk for pk in ours}
    start, end = MON, MON + timedelta(days=14)
    assert all(start <= parse_at(r["at"]) < end for r in facts)

    # The totals (and the previous period's, from its own export).
    before = read_csv(client, "/reports/facts.csv",
                      {"period": "custom", "from": "2026-02-16", "to": "2026-03-01"})
    expected, expected_before = tally(facts), tally(before)
    totals = read_csv(client, "/reports/export.csv", {**PERIOD, "table": "totals"})
    for row in totals:
        assert number(row["value"]) == pytest.approx(expected[row["metric"]]), row
        assert number(row["previous_period"]) == pytest.approx(expected_before[row["metric"]])
    assert {row["metric"] for row in totals} == set(expected)

    # The worked cases' values, as docs/metrics.md gives them.
    assert expected["created"] == 4 and expected["resolved"] == 5  # the edge's one too
    first = {r["conversation_id"]: float(r["seconds"]) for r in facts
             if r["fact"] == "first_response"}
    assert first == pytest.approx(first_responses_from_stage_changes(facts))
    assert sorted(first.values()) == [12 * 60, 15 * 60, 80 * 60, 5370 * 60]
    business = sorted(float(r["business_seconds"]) for r in facts
                      if r["fact"] == "first_response")
    assert business == [12 * 60, 15 * 60, 80 * 60, 90 * 60]  # the weekend: 90 business min
    resolutions = sorted((float(r["seconds"]), float(r["business_seconds"])) for r in facts
                         if r["fact"] == "resolution")
    assert resolutions == [
        (45 * 60, 45 * 60),            # the reopen's first resolution
        (90 * 60, 90 * 60),            # the transfer
        (6 * 3600, 6 * 3600),          # the reopen's second, measured from 09:00
        (66 * 3600, 2 * 3600),         # spans the period's start: Friday 1 h + Monday 1 h
        (5380 * 60, 100 * 60)]         # the weekend's: Friday 1 h + Tuesday 40 min
    assert expected["sla_breaches"] >= 1 and expected["csat_ratings"] == 3

    # Per day and the heat map, in the company's time zone (the widget's: UTC here).
    daily = read_csv(client, "/reports/export.csv", {**PERIOD, "table": "daily"})
    created_on = Counter(parse_at(r["at"]).astimezone(ZoneInfo("UTC")).date().isoformat()
                         for r in facts if r["fact"] == "created")
    resolved_on = Counter(parse_at(r["at"]).date().isoformat() for r in facts
                          if r["fact"] == "stage_change" and r["to_stage"] == "resolved")
    assert len(daily) == 14
    for row in daily:
        assert (int(row["created"]), int(row["resolved"])) == (
            created_on[row["day"]], resolved_on[row["day"]])
    heat = read_csv(client, "/reports/export.csv", {**PERIOD, "table": "heat_map"})
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    cells = Counter((days[parse_at(r["at"]).weekday()], parse_at(r["at"]).hour)
                    for r in facts if r["fact"] == "created")
    assert {(r["weekday"], int(r["hour"])): int(r["created"]) for r in heat} == {
        (d, h): cells[(d, h)] for d in days for h in range(24)}

    # By operator, widget, channel, tag and customer org: the same tally per slice.
    columns = {"operator": "operator_id", "widget": "widget_id", "channel": "channel",
               "org": "org_id", "tag": "tag_ids"}
    for dimension, column in columns.items():
        slices: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in facts:
            keys = r[column].split(";") if dimension == "tag" and r[column] else [r[column]]
            for key in keys:
                slices[key].append(r)
        table = read_csv(client, "/reports/export.csv", {**PERIOD, "table": f"by_{dimension}"})
        assert {row[dimension] for row in table} == set(slices), dimension
        for row in table:
            mine = tally(slices[row[dimension]])
            for key, value in row.items():
                if key not in (dimension, "name"):
                    assert number(value) == pytest.approx(mine[key]), (dimension, row, key)
    operators = {r["operator"]: r for r in read_csv(
        client, "/reports/export.csv", {**PERIOD, "table": "by_operator"})}
    assert operators[str(acme.operators[1].pk)]["created"] == "3"  # the transfer is theirs

    # The page shows the same numbers, rounded for reading.
    page = client.get("/reports/", PERIOD)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-metric="created"' in html and "Service targets met" in html
    assert "Globex" not in html


@pytest.mark.django_db
def test_an_operator_sees_their_own_numbers(acme: Tenant) -> None:
    build_period(acme)
    mine = acme.operators[1].pk
    client = logged_in_client(acme.operators[1])
    facts = read_csv(client, "/reports/facts.csv", PERIOD)
    assert facts and {r["operator_id"] for r in facts} == {str(mine)}
    totals = {r["metric"]: r["value"] for r in read_csv(
        client, "/reports/export.csv", {**PERIOD, "table": "totals"})}
    assert totals["created"] == "3"  # the suspended one, the weekend's and the transfer
    page = client.get("/reports/", PERIOD).content.decode()
    assert "Your own numbers" in page


@pytest.mark.django_db
@pytest.mark.parametrize("params, message", [
    ({"period": "custom", "from": "2026-03-10", "to": "2026-03-01"}, "ends before it starts"),
    ({"period": "custom", "from": "2023-01-01", "to": "2026-03-01"}, "at most two years"),
    ({"period": "custom", "from": "yesterday", "to": ""}, "YYYY-MM-DD"),
    ({"period": "fortnight"}, "Choose a period"),
    ({"period": "custom", "from": "9999-12-31", "to": "9999-12-31"}, "between 1 January 2000"),
    ({"period": "custom", "from": "0001-01-01", "to": "0001-01-02"}, "between 1 January 2000"),
])
def test_a_bad_period_is_a_clear_error_and_a_400_for_the_csv(
        acme: Tenant, params: dict[str, str], message: str) -> None:
    client = logged_in_client(acme.owner)
    page = client.get("/reports/", params)
    assert page.status_code == 400 and message in page.content.decode()
    for url in ("/reports/facts.csv", "/reports/export.csv"):
        response = client.get(url, {**params, "table": "totals"})
        assert response.status_code == 400 and message in response.content.decode()
    assert client.get("/reports/export.csv", {"table": "secrets"}).status_code == 400


@pytest.mark.django_db
def test_reports_need_a_login_and_a_company(acme: Tenant) -> None:
    for url in ("/reports/", "/reports/facts.csv", "/reports/export.csv?table=totals"):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_text_from_outside_is_not_a_formula_in_the_csv(acme: Tenant) -> None:
    from plug2support.widgets.models import Widget
    Widget.objects.filter(pk=acme.widget.pk).update(name="=HYPERLINK(\"http://x\")")
    chat(acme, at(MON, 9), "formula")
    client = logged_in_client(acme.owner)
    rows = read_csv(client, "/reports/export.csv", {**PERIOD, "table": "by_widget"})
    assert rows[0]["name"] == "'=HYPERLINK(\"http://x\")"


@pytest.mark.django_db
def test_the_migration_gives_each_earlier_stage_change_its_conversations_company(
        acme: Tenant, globex: Tenant) -> None:
    """conversations/0021 copies the company onto the changes stored before it."""
    from importlib import import_module

    from django.apps import apps

    from plug2support.conversations.models import StageChange

    migration = import_module("plug2support.conversations.migrations.0021_stage_change_company")
    conversation = chat(acme, at(MON, 9), "old")
    move(acme, conversation, Stage.RESOLVED, at(MON, 10))
    StageChange.objects.update(company=globex.company)  # any value but the right one
    migration.fill(apps, None)
    assert set(StageChange.objects.values_list("company_id", flat=True)) == {acme.company.pk}


def test_the_period_before_is_the_same_days_or_the_month_before() -> None:
    from plug2support.reports.periods import parse
    utc = ZoneInfo("UTC")
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    week = parse({"period": "7d"}, utc, now)
    assert (week.first_day, week.last_day) == (date(2026, 3, 25), date(2026, 3, 31))
    assert (week.previous().first_day, week.previous().last_day) == (
        date(2026, 3, 18), date(2026, 3, 24))
    so_far = parse({"period": "month"}, utc, now).previous()  # 1–31 March: all February
    assert (so_far.first_day, so_far.last_day) == (date(2026, 2, 1), date(2026, 2, 28))
    last = parse({"period": "last_month"}, utc, now)
    assert (last.first_day, last.last_day) == (date(2026, 2, 1), date(2026, 2, 28))
    assert (last.previous().first_day, last.previous().last_day) == (
        date(2026, 1, 1), date(2026, 1, 31))
    # Local days: a Paris "today" starts at 23:00 UTC the day before in winter.
    paris = parse({"period": "today"}, ZoneInfo("Europe/Paris"),
                  datetime(2026, 1, 10, 23, 30, tzinfo=UTC))
    assert paris.first_day == date(2026, 1, 11)
    assert paris.start == datetime(2026, 1, 10, 23, tzinfo=UTC)


@pytest.mark.django_db
def test_any_query_gives_the_page_or_a_clear_400_never_a_500(acme: Tenant) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = logged_in_client(acme.owner)
    text = st.one_of(st.sampled_from(["custom", "7d", "today", "2026-03-01", "2026-02-30",
                                      "9999-12-31", "0001-01-01", ""]), st.text(max_size=20))

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(period=text, first=text, last=text, table=text)
    def check(period: str, first: str, last: str, table: str) -> None:
        params = {"period": period, "from": first, "to": last, "table": table}
        for url in ("/reports/", "/reports/export.csv", "/reports/facts.csv"):
            assert client.get(url, params).status_code in (200, 400)

    check()


def test_the_facts_export_streams_from_the_asgi_server(
        live: str, tenants: tuple[Tenant, Tenant], recwarn: Any, monkeypatch: Any) -> None:
    """Under uvicorn the CSV goes out in batches as it is made (Django would turn a plain
    iterator into a list first: a year's facts in memory), and says the same as the page's
    own export."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    from plug2support.reports import views

    acme, _ = tenants
    build_period(acme)
    monkeypatch.setattr(views, "CHUNK_LINES", 5)
    browser = Client()
    browser.post("/accounts/login/", {"username": acme.owner.email, "password": PASSWORD})
    expected = b"".join(browser.get("/reports/facts.csv", PERIOD).streaming_content)  # type: ignore[attr-defined]
    address = urlsplit(live)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=20)
    connection.request("GET", f"/reports/facts.csv?{urlencode(PERIOD)}", headers={
        "Cookie": f"sessionid={browser.cookies['sessionid'].value}"})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == expected and expected.count(b"\n") > 20
    connection.close()
    assert not [w for w in recwarn if "consume synchronous iterators" in str(w.message)]
