"""Scenario: the reports page (issue 20) at 1 000 000 conversations on PostgreSQL, through the
product's own views.

    python -m bench.reports_scale '{"quick": false, "runs": 1}'  (the scenario, as run.py calls it)
    python -m bench.reports_scale generate '{"conversations": 1000000}'  (DATABASE_URL set)
    python -m bench.reports_scale measure '{"iterations": 30}'
    python -m bench.reports_scale export '{}'
    python -m bench.reports_scale measure '{"only": ["page_7d"], "explain": true, "profile": true}'
        (the SELECTs of one call replayed and timed, EXPLAIN ANALYZE of the slowest, a cProfile;
        "what_if_unordered": true measures with StageChange's default ordering dropped)

The data is inbox_scale's (its generator, imported: 10 000 companies, company 1 with 40 000
conversations spread over the two years before BASE_TIME, the open ones in its last 14 days),
in a database of its own, plus the history the reports read, for every company, made by
set-based SQL from the conversations themselves (HISTORY_SQL):

- stage changes (conversations_stagechange, with their company): a New conversation has none;
  every other one New → Waiting on user (the first response) 30 s to 10 min after it was
  created (a reply: by nobody), then by its stage now: Waiting on user stops there; Needs
  response adds Waiting on user → Needs response (a visitor's message); Hold, → Hold;
  Suspended is New → Suspended; Resolved adds → Resolved at its last update (by the
  assignee), after a Needs response step for 40 % of them; Archived is Resolved and then
  Archived three days later. 0 to 4 moves each, 2.7 on average;
- satisfaction: a RatingRequest for 60 % of the resolutions (a second after), a Rating for half
  of those (30 % of resolutions; 1 to 5, mostly 4 and 5);
- service targets: one policy per company (first response in 8 minutes, wall clock), and a
  first-response clock for half of the conversations: start at creation, stop at the first
  response, a breach when that came after 8 minutes (or never came and 8 minutes passed).

Company 1's widgets keep UTC, so the reports' days are UTC days. No customer orgs are made
(by_org is the one "No org" row, but its lookups still run). The database is kept with a
marker holding a fingerprint (inbox_scale's, plus this module's SQL and code): a database
whose marker is missing or different is dropped and made again. Its name is
`$BENCH_REPORTS_DB_<conversations>` (default p2s_bench_reports).

The clock is fixed at NOW (a second before BASE_TIME, the newest data), so "the last 7 days"
are the generated data's last 7 days on every run: `django.utils.timezone.now` is patched in
the measuring processes.

The measuring process (pinned, fresh) logs in as company 1's owner with django.test.Client
and GETs, after a warm-up, /reports/ (the default: the last 7 days against the 7 before,
the whole company), /reports/?period=30d, and each per-dimension CSV of 30 days
(/reports/export.csv?table=by_…, the CSV read to its end): p50 / p99 in ms and the SQL queries
of one call. A second process streams /reports/facts.csv for a year (custom range, 365 days)
and reads it to its end: rows per second, and the memory it took (the peak of ru_maxrss over
the process's size before, and tracemalloc's peak in a second, slower pass).
"""

# SQL made from this module's own constants; subprocesses of our own commands.
# ruff: noqa: S603, S608
from __future__ import annotations

import hashlib
import inspect
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import inbox_scale
from bench.common import PYTHON, ROOT, SERVER_CORE, percentile, pinned, product_env, summary

VERSION = 1
BASE = inbox_scale.BASE_TIME
NOW = datetime.fromisoformat(BASE).replace(tzinfo=UTC) - timedelta(seconds=1)
DB_PREFIX = os.environ.get("BENCH_REPORTS_DB", "p2s_bench_reports")
MARKER = "bench_reports_scale_marker"
FR_TARGET = 480  # the generated first-response target, seconds
CACHE_DIR = inbox_scale.CACHE_DIR
HISTORY_TABLES = ["conversations_stagechange", "satisfaction_ratingrequest",
                  "satisfaction_rating", "sla_slapolicy", "sla_slaclock", "sla_slafact"]

# A conversation with its hashes: fr (seconds to the first response), h1, h2 (per cent).
_SRC = """
    SELECT id, company_id, stage, assignee_id, created_at, updated_at,
           created_at + (30 + (id * 2654435761) % 570) * INTERVAL '1 second' AS fr_at,
           30 + (id * 2654435761) % 570 AS fr,
           ((id * 2246822519) % 4294967291) % 100 AS h1,
           ((id * 3266489917) % 4294967291 / 100) % 100 AS h2
    FROM conversations_conversation"""
_MOVE = """SELECT id, company_id, {from_} AS from_stage, {to} AS to_stage, {at} AS at,
                  {by} AS by_id FROM src WHERE {where}"""
_MOVES = " UNION ALL ".join(_MOVE.format(**m) for m in [
    # The first response (a reply moves New → Waiting on user by itself).
    {"from_": "'new'", "to": "'waiting_on_user'", "at": "fr_at", "by": "CAST(NULL AS BIGINT)",
     "where": "stage NOT IN ('new', 'suspended')"},
    {"from_": "'new'", "to": "'suspended'", "at": "fr_at", "by": "assignee_id",
     "where": "stage = 'suspended'"},
    # The visitor answered: Needs response (the last move of a needs_response conversation).
    {"from_": "'waiting_on_user'", "to": "'needs_response'",
     "at": "CASE WHEN stage = 'needs_response' THEN updated_at "
           "ELSE fr_at + (updated_at - fr_at) / 2 END", "by": "CAST(NULL AS BIGINT)",
     "where": "stage = 'needs_response' OR (stage IN ('resolved', 'archived') AND h1 < 40)"},
    {"from_": "'waiting_on_user'", "to": "'hold'", "at": "updated_at", "by": "assignee_id",
     "where": "stage = 'hold'"},
    {"from_": "CASE WHEN h1 < 40 THEN 'needs_response' ELSE 'waiting_on_user' END",
     "to": "'resolved'", "at": "updated_at", "by": "assignee_id",
     "where": "stage IN ('resolved', 'archived')"},
    {"from_": "'resolved'", "to": "'archived'",
     "at": f"LEAST(updated_at + INTERVAL '3 days', TIMESTAMPTZ '{BASE}+00' - INTERVAL '1 second')",
     "by": "CAST(NULL AS BIGINT)", "where": "stage = 'archived'"},
])
HISTORY_SQL = [
    f"""INSERT INTO conversations_stagechange (conversation_id, company_id, from_stage,
            to_stage, at, by_id)
        WITH src AS ({_SRC}) SELECT * FROM ({_MOVES}) AS m ORDER BY at, id""",
    """INSERT INTO satisfaction_ratingrequest (company_id, conversation_id, resolution_id,
            channel, operator_id, seq, question, asked_at)
        SELECT s.company_id, s.conversation_id, s.id, 'widget', s.by_id, c.last_seq + 1,
               'How would you rate the help you got?', s.at + INTERVAL '1 second'
        FROM conversations_stagechange s JOIN conversations_conversation c
             ON c.id = s.conversation_id
        WHERE s.to_stage = 'resolved' AND ((s.id * 2654435761) % 4294967296) % 100 < 60
        ORDER BY s.at, s.id""",
    """INSERT INTO satisfaction_rating (company_id, conversation_id, request_id, score,
            comment, channel, operator_id, client_id, seq, rated_at)
        SELECT company_id, conversation_id, id,
               CASE WHEN h < 6 THEN 1 WHEN h < 12 THEN 2 WHEN h < 22 THEN 3
                    WHEN h < 50 THEN 4 ELSE 5 END,
               CASE WHEN h % 7 = 0 THEN 'Thanks, that helped' ELSE '' END, 'widget',
               operator_id, '', seq + 1, asked_at + (60 + h * 37) * INTERVAL '1 second'
        FROM (SELECT *, ((id * 2246822519) % 4294967291) % 100 AS h
              FROM satisfaction_ratingrequest) AS r
        WHERE ((id * 3266489917) % 4294967291) % 100 < 50
        ORDER BY asked_at, id""",
    f"""INSERT INTO sla_slapolicy (id, company_id, name, position, first_response_minutes,
            next_response_minutes, resolution_minutes, business_hours, warn_percent,
            warn_minutes, applies_to, priority, org_id, tag_id, created_at)
        SELECT id, id, 'First response in 8 minutes', 0, {FR_TARGET // 60}, NULL, NULL, FALSE,
               NULL, NULL, 'all', NULL, NULL, NULL, created_at
        FROM accounts_company""",
    # One first-response clock for half the conversations; its id is the conversation's.
    f"""INSERT INTO sla_slaclock (id, company_id, conversation_id, policy_id, target,
            business_hours, target_seconds, warn_seconds, state, started_at, due_at, warn_at,
            remaining_seconds, warned_at, breached_at, stopped_at)
        WITH src AS ({_SRC})
        SELECT id, company_id, id, company_id, 'first_response', FALSE, {FR_TARGET}, NULL,
               CASE WHEN stage IN ('new', 'suspended') THEN 'running' ELSE 'stopped' END,
               created_at, created_at + INTERVAL '{FR_TARGET} seconds', NULL,
               CASE WHEN stage IN ('new', 'suspended') THEN NULL ELSE {FR_TARGET} - fr END,
               NULL,
               CASE WHEN (stage IN ('new', 'suspended') AND created_at
                          + INTERVAL '{FR_TARGET} seconds' < TIMESTAMPTZ '{BASE}+00')
                         OR (stage NOT IN ('new', 'suspended') AND fr > {FR_TARGET})
                    THEN created_at + INTERVAL '{FR_TARGET} seconds' END,
               CASE WHEN stage IN ('new', 'suspended') THEN NULL ELSE fr_at END
        FROM src WHERE h2 < 50 ORDER BY id""",
    f"""INSERT INTO sla_slafact (company_id, conversation_id, clock_id, policy_id_at, target,
            fact, at, elapsed_seconds, target_seconds, business_hours)
        SELECT * FROM (
            SELECT company_id, conversation_id, id, policy_id, target, 'start', started_at,
                   0.0, target_seconds, business_hours FROM sla_slaclock
            UNION ALL
            SELECT company_id, conversation_id, id, policy_id, target, 'breach', breached_at,
                   {FR_TARGET}.0, target_seconds, business_hours FROM sla_slaclock
            WHERE breached_at IS NOT NULL
            UNION ALL
            SELECT company_id, conversation_id, id, policy_id, target, 'stop', stopped_at,
                   {FR_TARGET} - remaining_seconds, target_seconds, business_hours
            FROM sla_slaclock WHERE stopped_at IS NOT NULL) AS f
        ORDER BY 7, 3""",
]


def db_name(conversations: int) -> str:
    return f"{DB_PREFIX}_{conversations}"


def db_url(conversations: int) -> str:
    return f"{inbox_scale.PG_ADMIN_URL.rsplit('/', 1)[0]}/{db_name(conversations)}"


def fingerprint(conversations: int) -> str:
    code = "".join(inspect.getsource(f) for f in (generate, _history))
    text = json.dumps({"version": VERSION, "sql": HISTORY_SQL, "code": code,
                       "inbox": inbox_scale.fingerprint("postgresql", conversations)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_marker(conversations: int) -> dict[str, Any] | None:
    import psycopg

    try:
        with psycopg.connect(db_url(conversations), connect_timeout=5) as conn:
            row = conn.execute(f"SELECT fingerprint, meta FROM {MARKER}").fetchone()
    except Exception:  # no database, no table: nothing kept
        return None
    return {"fingerprint": row[0], "meta": json.loads(row[1])} if row else None


# --- generation (its own process, DATABASE_URL the fresh database) --------------------------------

def _history(cursor: Any, steps: dict[str, float]) -> None:
    """The reports' history, set-based, with the tables' secondary indexes dropped while they
    are filled and made again from their definitions; every foreign key checked after."""
    from django.db import transaction

    with transaction.atomic():
        cursor.execute("SET LOCAL session_replication_role = replica")
        indexes = [index for table in HISTORY_TABLES
                   for index in inbox_scale._secondary_indexes(cursor, "postgresql", table)]
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for sql in HISTORY_SQL:
            t0 = time.monotonic()
            cursor.execute(sql)
            steps[" ".join(sql.split()[:3])] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        for _, definition in indexes:
            cursor.execute(definition)
        steps["history indexes made"] = round(time.monotonic() - t0, 2)
        cursor.execute("SET LOCAL session_replication_role = origin")
        t0 = time.monotonic()
        saved = inbox_scale.TABLES
        inbox_scale.TABLES = HISTORY_TABLES
        try:
            inbox_scale.check_foreign_keys(cursor)
        finally:
            inbox_scale.TABLES = saved
        steps["history foreign keys checked"] = round(time.monotonic() - t0, 2)
        for table in HISTORY_TABLES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")


def generate(args: dict[str, Any]) -> dict[str, Any]:
    conversations = int(args["conversations"])
    started = time.monotonic()
    inbox = inbox_scale.generate({"vendor": "postgresql", "conversations": conversations})
    from django.db import connection

    steps: dict[str, float] = {}
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET work_mem = '256MB'")
        _history(cursor, steps)
        cursor.execute("SELECT id FROM accounts_membership WHERE company_id = 1 "
                       "AND role = 'owner'")
        owner = cursor.fetchone()[0]
        counts = {}
        for table in HISTORY_TABLES:
            cursor.execute(f"SELECT COUNT(*), COUNT(*) FILTER (WHERE company_id = 1) "
                           f"FROM {table}")
            counts[table] = cursor.fetchone()
        meta = {"conversations": conversations, "companies": inbox["companies"],
                "company_conversations": inbox["company_conversations"], "owner": owner,
                "rows": counts, "inbox_s": inbox["process_s"]}
        cursor.execute(f"CREATE TABLE {MARKER} (fingerprint VARCHAR(64), meta TEXT)")
        cursor.execute(f"INSERT INTO {MARKER} VALUES (%s, %s)",
                       [fingerprint(conversations), json.dumps(meta)])
        t0 = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        steps["VACUUM ANALYZE"] = round(time.monotonic() - t0, 2)
    return {**meta, "steps": steps, "inbox_steps": inbox["steps"],
            "process_s": round(time.monotonic() - started, 1)}


# --- measuring (fresh processes, pinned, the clock fixed at NOW) ----------------------------------

def _client() -> tuple[Any, dict[str, Any]]:
    import django

    django.setup()
    from unittest import mock

    from django.db import connection
    from django.test import Client

    from plug2support.accounts.models import Membership

    mock.patch("django.utils.timezone.now", return_value=NOW).start()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT meta FROM {MARKER}")
        meta = json.loads(cursor.fetchone()[0])
    owner = Membership.objects.select_related("user").get(pk=meta["owner"])
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner.user)
    return client, meta


def _get(client: Any, url: str) -> int:
    """GET `url`, read to its end; its size in bytes."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    if response.streaming:
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


CASES = [  # key, url, label, target
    ("page_7d", "/reports/", "the first report (/reports/: last 7 days and the 7 before, "
     "whole company)", "p99 ≤ 300 ms"),
    ("page_week", "/reports/?period=custom&from=2026-03-02&to=2026-03-08",
     "a quieter week, 2026-03-02 to 03-08 (custom range, and the week before)", ""),
    ("page_30d", "/reports/?period=30d", "/reports/?period=30d (and the 30 days before)", ""),
    *((f"by_{d}", f"/reports/export.csv?table=by_{d}&period=30d",
       f"export.csv?table=by_{d}, 30 days", "")
      for d in ("operator", "widget", "channel", "tag", "org")),
]


def measure(args: dict[str, Any]) -> dict[str, Any]:
    client, meta = _client()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    only = args.get("only")
    if args.get("what_if_unordered"):
        # A what-if, never in the table: StageChange's default ordering (conversation, at,
        # id) dropped in this process, as the proposal in bench/README.md "Reports" would do
        # for the facts' range read (facts._window sorts its rows itself).
        from plug2support.conversations.models import StageChange

        StageChange._meta.ordering = []
    results: dict[str, Any] = {"meta": meta, "load_start": os.getloadavg()[0]}
    for key, url, _, _ in CASES:
        if only and key not in only:
            continue
        iterations = int(args.get("iterations", 30) if key in ("page_7d", "page_week")
                         else args.get("iterations_other", 5) if key == "page_30d"
                         else args.get("iterations_csv", 3))
        for _ in range(int(args.get("warmup", 3 if key in ("page_7d", "page_week") else 1))):
            _get(client, url)
        with CaptureQueriesContext(connection) as captured:
            size = _get(client, url)
        queries = captured.captured_queries
        slowest = max(queries, key=lambda q: float(q["time"]))
        timings = []
        for _ in range(iterations):
            t0 = time.perf_counter_ns()
            _get(client, url)
            timings.append((time.perf_counter_ns() - t0) / 1e6)
        results[key] = {"p50_ms": percentile(timings, 50), "p99_ms": percentile(timings, 99),
                        "max_ms": max(timings), "n": iterations, "bytes": size,
                        "queries": len(queries),
                        "sql_ms": round(sum(float(q["time"]) for q in queries) * 1000, 1),
                        "slowest_sql": slowest["sql"][:2000],
                        "slowest_ms": round(float(slowest["time"]) * 1000, 1),
                        **_volume(url)}
    if args.get("explain"):
        results["explain"] = _explain(client, CASES[0][1])
    if args.get("profile"):
        results["profile"] = _profile(client, CASES[0][1])
    results["load_end"] = os.getloadavg()[0]
    return results


def _volume(url: str) -> dict[str, Any]:
    """What the call reads: the conversations created in its period and the facts rows of
    the period and the one before (counted once, outside the timing)."""
    from urllib.parse import parse_qsl, urlsplit

    from plug2support.conversations.models import Conversation
    from plug2support.reports.facts import facts
    from plug2support.reports.periods import parse
    from plug2support.reports.views import company_zone

    period = parse(dict(parse_qsl(urlsplit(url).query)), company_zone(1), NOW)
    before = period.previous()
    return {"period": [str(period.first_day), str(period.last_day)],
            "created": Conversation.objects.filter(company_id=1, created_at__gte=period.start,
                                                   created_at__lt=period.end).count(),
            "facts": sum(1 for _ in facts(1, before.start, period.end))}


def _explain(client: Any, url: str) -> dict[str, Any]:
    """The SELECTs of one call replayed through a bare cursor, each timed (best of 3);
    EXPLAIN (ANALYZE, BUFFERS) of the slowest, and the time of all of them."""
    from django.db import connection

    executed = inbox_scale._executed(lambda: _get(client, url))
    timed = []
    with connection.cursor() as cursor:
        for sql, params in executed:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue  # the session's own writes, if any
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                best = min(best, time.perf_counter() - t0)
            timed.append((best * 1000, sql, params))
        timed.sort(key=lambda t: -t[0])
        ms, sql, params = timed[0]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return {"statements": len(timed), "replayed_ms": round(sum(t[0] for t in timed), 1),
            "top": [(round(t[0], 1), t[1][:300]) for t in timed[:6]],
            "slowest_ms": round(ms, 1), "slowest_sql": connection.ops.compose_sql(sql, params)
            if hasattr(connection.ops, "compose_sql") else sql, "plan": plan}


def _profile(client: Any, url: str) -> list[str]:
    """cProfile of one call: the 25 functions with the most time of their own."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(_get, client, url)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue().splitlines()


def export(args: dict[str, Any]) -> dict[str, Any]:
    """The facts of a year, streamed and read to their end: rows/s and the memory it took."""
    import resource
    import tracemalloc

    client, meta = _client()
    last = NOW.date()
    first = last - timedelta(days=364)
    url = f"/reports/facts.csv?period=custom&from={first}&to={last}"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t0 = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    rows = size = 0
    first_row_s = None
    for chunk in response.streaming_content:
        if rows == 1:  # the first fact (the header line comes before any query)
            first_row_s = time.perf_counter() - t0
        rows += 1
        size += len(chunk)
    elapsed = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"meta": meta, "period": [str(first), str(last)], "rows": rows - 1,
              "bytes": size, "seconds": round(elapsed, 2), "rows_per_s": (rows - 1) / elapsed,
              "first_line_s": round(first_row_s or 0, 3), "maxrss_before_kib": rss_before,
              "maxrss_delta_kib": rss_after - rss_before, "load": os.getloadavg()[0]}
    if args.get("traced", True):
        tracemalloc.start()
        response = client.get(url)
        for _ in response.streaming_content:
            pass
        result["tracemalloc_peak_kib"] = tracemalloc.get_traced_memory()[1] // 1024
        tracemalloc.stop()
    return result


# --- the scenario, for run.py ------------------------------------------------------------------

def _env(conversations: int) -> dict[str, str]:
    var_dir = CACHE_DIR / "reports-pg-var"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **product_env(str(var_dir))}
    env["DATABASE_URL"] = db_url(conversations)
    return env


def _run(command: str, args: dict[str, Any], conversations: int, *, pin: bool,
         timeout: float) -> dict[str, Any]:
    cmd = [PYTHON, "-m", "bench.reports_scale", command, json.dumps(args)]
    out = subprocess.run(pinned(cmd, SERVER_CORE) if pin else cmd, cwd=ROOT,
                         env=_env(conversations), capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"reports_scale {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def ensure_database(conversations: int) -> dict[str, Any]:
    import psycopg

    with inbox_scale._locked():
        marker = read_marker(conversations)
        if marker and marker["fingerprint"] == fingerprint(conversations):
            return {**marker["meta"], "reused": True}
        started = time.monotonic()
        with psycopg.connect(inbox_scale.PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name(conversations)}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name(conversations)}"')
        result = _run("generate", {"conversations": conversations}, conversations,
                      pin=False, timeout=1800)
        result["generated_s"] = round(time.monotonic() - started, 1)
        with psycopg.connect(db_url(conversations)) as conn:
            conn.execute(f"UPDATE {MARKER} SET meta = %s",
                         [json.dumps({**read_marker(conversations)["meta"],  # type: ignore[index]
                                      "generated_s": result["generated_s"]})])
        return {**result, "reused": False}


def _fmt(values: list[float], pattern: str) -> str:
    stats = summary(values)
    if stats["min"] == stats["max"]:
        return pattern.format(stats["median"])
    return (f"{pattern.format(stats['median'])} "
            f"({pattern.format(stats['min'])}–{pattern.format(stats['max'])})")


def reports_scale(runs: int, quick: bool) -> list[dict[str, Any]]:
    """Rows for the README's reports table: the data, each page and CSV (p50 / p99 over the
    calls of each of `runs` processes, median and min–max over them), the facts export."""
    conversations = inbox_scale.QUICK if quick else inbox_scale.FULL
    scenario = f"Reports at {conversations:,} conversations (PostgreSQL)"
    data = ensure_database(conversations)
    rows_1 = {table.split("_", 1)[1]: f"{both[1]:,}" for table, both in data["rows"].items()}
    made = f"{data.get('generated_s', float('nan')):.0f} s"
    out = [{"scenario": scenario,
            "measure": f"data: {data['companies']:,} companies; company 1 has "
                       f"{data['company_conversations']:,} conversations, "
                       + ", ".join(f"{n} {t}" for t, n in rows_1.items()),
            "value": f"kept from an earlier run (generated in {made})" if data["reused"]
            else f"generated in {made}", "target": ""}]
    args = {"iterations": 15 if quick else 30, "iterations_other": 5, "iterations_csv": 3}
    # Each process measures both pages; the CSVs (each the 30-day report's work again, with
    # the period before) in the first only, 3 calls after a warm-up: minutes otherwise.
    pages = ["page_7d", "page_week", "page_30d"]
    results = [_run("measure", {**args, **({} if i == 0 else {"only": pages})},
                    conversations, pin=True, timeout=1800) for i in range(runs)]
    for key, _, label, target in CASES:
        cases = [r[key] for r in results if key in r]
        out.append({
            "scenario": scenario,
            "measure": f"{label}: p50 / p99 ({cases[0]['n']} calls, {len(cases)} "
                       f"process{'es' if len(cases) > 1 else ''}); SQL queries",
            "value": f"p50 {_fmt([c['p50_ms'] for c in cases], '{:,.0f}')} ms, "
                     f"p99 {_fmt([c['p99_ms'] for c in cases], '{:,.0f}')} ms; "
                     f"{cases[0]['created']:,} conversations created, {cases[0]['facts']:,} "
                     f"facts rows in the two periods; "
                     f"{cases[0]['queries']} queries, "
                     f"{_fmt([c['sql_ms'] for c in cases], '{:,.0f}')} ms in SQL "
                     f"(the slowest {cases[0]['slowest_ms']:,.0f} ms); "
                     f"load average {_fmt([r['load_start'] for r in results], '{:.1f}')}",
            "target": target})
    (CACHE_DIR / "reports-last.json").write_text(json.dumps(results, indent=1))
    # One run, read through once more under tracemalloc (its Python heap's peak; slower).
    exported = [_run("export", {}, conversations, pin=True, timeout=1800)]
    out.append({
        "scenario": scenario,
        "measure": f"/reports/facts.csv, a year ({exported[0]['period'][0]} to "
                   f"{exported[0]['period'][1]}), streamed: rows/s; memory",
        "value": f"{exported[0]['rows']:,} rows ({exported[0]['bytes'] / 2**20:.1f} MiB) in "
                 f"{_fmt([e['seconds'] for e in exported], '{:.1f}')} s: "
                 f"{_fmt([e['rows_per_s'] for e in exported], '{:,.0f}')} rows/s, first line "
                 f"after {_fmt([e['first_line_s'] for e in exported], '{:.2f}')} s; peak RSS "
                 f"+{_fmt([e['maxrss_delta_kib'] / 1024 for e in exported], '{:.1f}')} MiB "
                 f"over the process's {exported[0]['maxrss_before_kib'] / 1024:.0f} MiB, "
                 f"tracemalloc peak "
                 f"{_fmt([e['tracemalloc_peak_kib'] / 1024 for e in exported], '{:.1f}')} MiB; "
                 f"load average {_fmt([e['load'] for e in exported], '{:.1f}')}",
        "target": "streams (memory independent of the period)"})
    return out


def main() -> None:
    commands = {"generate": generate, "measure": measure, "export": export}
    if len(sys.argv) > 1 and sys.argv[1] in commands:
        args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
        print(json.dumps(commands[sys.argv[1]](args), default=str))
        return
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    for row in reports_scale(int(args.get("runs", 1)), bool(args.get("quick", False))):
        print(f"{row['measure']:<80} {row['value']}")


if __name__ == "__main__":
    main()
