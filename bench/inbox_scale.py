"""Scenario 5: the inbox at 1 000 000 conversations (10 000 companies), on PostgreSQL and on
SQLite, through the product's own code path.

    python -m bench.inbox_scale generate '{"vendor": "sqlite", "conversations": 1000000}'
    python -m bench.inbox_scale measure '{"iterations": 150}'  (DJANGO_SETTINGS_MODULE etc. set)
    python -m bench.inbox_scale '{"quick": false, "runs": 3}'  (the scenario, as run.py calls it)

The data is made by set-based SQL after `migrate` on a fresh database (INSERT ... SELECT over
generate_series on PostgreSQL, over a recursive CTE's numbers on SQLite), never by ORM
objects: companies, users with memberships, widgets, visitors, the tags of each company,
conversations and their tags. Ids are explicit (PostgreSQL's identity sequences are moved past
them afterwards), so the rows of one table can name those of another without a lookup; but
the conversations of all companies are inserted in time order and numbered as they come, so
that, as in production, one company's conversations are scattered across the table.

Company 1 is the big one (4 % of all conversations: 40 000 at 1 000 000); nine more have
1.5 % each; the other 9 990 share the rest with a log-normal skew (a few have thousands, many
a handful). Stages: 5 % New, 1 % Suspended, 6 % Waiting on user, 4 % Needs response, 2 % Hold,
the rest Resolved (42 %) or Archived (40 %); priorities mostly Low and Normal; the customer
waits on New and Needs response; most conversations are assigned; 12 % carry a tag, 3 % two.
The conversations' secondary indexes are dropped while they are filled and made again from
their own definitions; PostgreSQL's deferred foreign-key triggers are skipped for the load
and every foreign key is then checked set-based, before the marker is written.

A generated database is kept (SQLite under var/bench/, PostgreSQL as its own database) with a
marker table holding a fingerprint of everything that shaped it: the generator's version and
SQL, the plan of companies, the migrations on disk and Django's version. A database whose
marker is missing or different is dropped and made again, so a schema change can never be
measured on stale data.

The measuring process loads one operator of company 1 and calls, N times after a warm-up, what
the inbox list view does (views.inbox_list): `inbox_summaries_json(membership, Filters(...))`
(the page in one statement: its rows, the names they point to as one-row subqueries, their
tags; on PostgreSQL the statement builds the summaries' JSON itself, on SQLite Python shapes
and encodes them; compiled once per company, person and filters, so the warm-up compiles
it) and the response body around it. It reports p50/p99 in ms, the queries of one call
(django.test.utils.CaptureQueriesContext), the rows returned, p50/p99 of
the same statements replayed through a bare cursor (the database's and driver's share), and
with "explain" the plan of each statement.
"""

# SQL made from this module's own constants and numbers; subprocesses of our own commands.
# ruff: noqa: S603, S608
from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, SERVER_CORE, percentile, pinned, product_env, summary

GENERATOR_VERSION = 1
COMPANIES = 10_000
FULL = 1_000_000
QUICK = 100_000  # quick mode: a tenth (generated in seconds on a fresh machine), kept too
BASE_TIME = "2026-06-01 00:00:00"  # fixed, so the same plan makes the same rows
CACHE_DIR = ROOT / "var" / "bench"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
MARKER = "bench_inbox_scale_marker"
TAGS = [  # (name, built in, takes a value): the 7 built-in tags, then 3 of the company's own
    ("Stalled", True, False), ("Priority", True, False), ("Escalated", True, False),
    ("Fast moving", True, False), ("Slow moving", True, False), ("Blocked", True, False),
    ("Resolution", True, True), ("Billing", False, False), ("Bug report", False, False),
    ("VIP", False, False),
]
FILTER_TAG = "Billing"
MEASURED_USER_INDEX = 2  # the company's third member: an operator (0 is the owner, 1 an admin)


# --- the plan: how many of everything each company has ---------------------------------------

def company_plan(conversations: int, companies: int = COMPANIES) -> list[dict[str, int]]:
    """Per company: its conversations, users, widgets and the first id of each of its rows.
    Deterministic (seeded), so the fingerprint of a plan names its data."""
    rng = random.Random(20261122)
    big = [max(20_000, conversations * 4 // 100)] + [conversations * 15 // 1000] * 9
    rest = conversations - sum(big)
    weights = [rng.lognormvariate(0, 1.0) for _ in range(companies - len(big))]
    scale = rest / sum(weights)
    small = [max(1, round(w * scale)) for w in weights]
    # Make the total exact: take from (or give to) the larger ones, one at a time.
    diff = rest - sum(small)
    order = sorted(range(len(small)), key=lambda i: -small[i])
    i = 0
    while diff:
        j = order[i % len(order)]
        step = 1 if diff > 0 else -1
        if small[j] + step >= 1:
            small[j] += step
            diff -= step
        i += 1
    counts = big + small
    plan: list[dict[str, int]] = []
    conv = visitor = widget = user = 1
    for index, count in enumerate(counts):
        users = 25 if index == 0 else 12 if index < len(big) else min(8, 2 + count // 300)
        widgets = 3 if index == 0 else 2 if index < len(big) else 1
        visitors = (count + 1) // 2
        plan.append({
            "company_id": index + 1, "conv_start": conv, "conv_count": count,
            "visitor_start": visitor, "visitors": visitors, "widget_start": widget,
            "widgets": widgets, "user_start": user, "users": users,
            "tag_start": index * len(TAGS) + 1,
            # Closed conversations spread over two years, whatever the company's size.
            "spacing": max(1, 2 * 365 * 86400 // count),
        })
        conv, visitor, widget, user = conv + count, visitor + visitors, widget + widgets, \
            user + users
    return plan


PLAN_COLUMNS = ["company_id", "conv_start", "conv_count", "visitor_start", "visitors",
                "widget_start", "widgets", "user_start", "users", "tag_start", "spacing"]


# --- the SQL -----------------------------------------------------------------------------------

def _ts(vendor: str, seconds: str) -> str:
    """BASE_TIME plus an integer SQL expression of seconds (negative: earlier)."""
    if vendor == "postgresql":
        return f"(TIMESTAMPTZ '{BASE_TIME}+00' + ({seconds}) * INTERVAL '1 second')"
    # Django stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text, in UTC.
    return f"datetime('{BASE_TIME}', ({seconds}) || ' seconds')"


def _numbers(vendor: str, count: str) -> str:
    """A FROM clause: each plan row `p` times `s.k` from 0 to `count` - 1."""
    if vendor == "postgresql":
        return f"bench_plan p CROSS JOIN LATERAL generate_series(0, {count} - 1) AS s(k)"
    return f"bench_plan p JOIN bench_seq s ON s.k < {count}"


def generation_sql(vendor: str, max_count: int) -> list[str]:
    """The statements that fill a migrated, empty database from the table bench_plan."""
    ts = lambda seconds: _ts(vendor, seconds)  # noqa: E731
    if vendor == "postgresql":
        seq = []
        hashed = "lpad(to_hex(s.k + p.visitor_start), 64, '0')"
    else:
        # The numbers 0 .. max_count - 1, from a recursive CTE: SQLite has no generate_series.
        seq = ["CREATE TABLE bench_seq (k INTEGER PRIMARY KEY)",
               f"INSERT INTO bench_seq (k) WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL "
               f"SELECT k + 1 FROM n WHERE k + 1 < {max_count}) SELECT k FROM n"]
        hashed = "printf('%064x', s.k + p.visitor_start)"
    tags = " UNION ALL ".join(
        f"SELECT {j} AS j, '{name}' AS name, {str(built_in).upper()} AS built_in, "
        f"{str(value).upper()} AS takes_value" for j, (name, built_in, value) in enumerate(TAGS))
    # One row per conversation with its hashes: sb (stage bucket, ‰), pb (priority, %),
    # tb (tags, %), ab (assignment, %), au (which member), wb (wait, s).
    conversations = f"""
        SELECT n, company_id, widget_id, visitor_id, user_start, users,
               h % 1000 AS sb, (h / 1000) % 100 AS pb, (h / 100000) % 100 AS tb,
               h2 % 100 AS ab, (h2 / 100) % users AS au, (h2 / 10000) % 7200 AS wb,
               CASE WHEN h % 1000 < 180 THEN (h / 1000) % (14 * 86400) ELSE age END AS age,
               2 + h2 % 30 AS last_seq
        FROM (SELECT p.conv_start + s.k AS n, p.company_id AS company_id,
                     p.widget_start + ((s.k / 2) % p.widgets) AS widget_id,
                     p.visitor_start + s.k / 2 AS visitor_id,
                     p.user_start AS user_start, p.users AS users,
                     (p.conv_count - s.k) * p.spacing AS age,
                     ((p.conv_start + s.k) * 2654435761) % 4294967296 AS h,
                     ((p.conv_start + s.k) * 2246822519) % 4294967291 AS h2
              FROM {_numbers(vendor, "p.conv_count")}) AS raw"""
    waiting = "(sb < 50 OR (sb >= 120 AND sb < 160))"  # New and Needs response
    tagged = ("SELECT id, company_id, updated_at, "
              "((id * 2654435761) % 4294967296 / 100000) % 100 AS tb "
              "FROM conversations_conversation")
    return seq + [
        f"""INSERT INTO accounts_company (id, name, created_at)
            SELECT company_id, 'Company ' || company_id, {ts("-800 * 86400")} FROM bench_plan""",
        f"""INSERT INTO accounts_user (id, password, last_login, is_superuser, is_staff,
                is_active, date_joined, email, name)
            SELECT p.user_start + s.k, '!bench', NULL, FALSE, FALSE, TRUE, {ts("-700 * 86400")},
                   'operator' || (p.user_start + s.k) || '@company' || p.company_id
                   || '.example.com', 'Operator ' || (p.user_start + s.k)
            FROM {_numbers(vendor, "p.users")}""",
        f"""INSERT INTO accounts_membership (id, user_id, company_id, role, status,
                last_seen_at, created_at)
            SELECT p.user_start + s.k, p.user_start + s.k, p.company_id,
                   CASE WHEN s.k = 0 THEN 'owner' WHEN s.k = 1 THEN 'admin'
                        ELSE 'operator' END,
                   CASE WHEN s.k % 3 = 2 THEN 'offline' ELSE 'online' END,
                   NULL, {ts("-700 * 86400")}
            FROM {_numbers(vendor, "p.users")}""",
        f"""INSERT INTO widgets_widget (id, company_id, name, "key", secret, title,
                allowed_origins, hours_enabled, timezone, created_at, launcher_logo,
                brand_logo, alignment, spacing_side, spacing_bottom, appearance, brand_color,
                search_enabled, require_identity)
            SELECT p.widget_start + s.k, p.company_id, 'Site ' || (s.k + 1),
                   'wk_bench_' || (p.widget_start + s.k), 'bench-secret-' || (p.widget_start + s.k),
                   'Hi! How can we help?', '', FALSE, 'UTC', {ts("-700 * 86400")}, '', '',
                   'right', 20, 20, 'light', '#4f46e5', FALSE, FALSE
            FROM {_numbers(vendor, "p.widgets")}""",
        f"""INSERT INTO widgets_visitor (id, widget_id, token_hash, email, created_at,
                last_seen_at, placeholder)
            SELECT p.visitor_start + s.k, p.widget_start + (s.k % p.widgets), {hashed},
                   CASE WHEN s.k % 3 = 0
                        THEN 'visitor' || (p.visitor_start + s.k) || '@example.org'
                        ELSE '' END,
                   {ts("-(p.visitors - s.k) * p.spacing * 2")},
                   {ts("-(p.visitors - s.k) * p.spacing * 2 + 600")}, FALSE
            FROM {_numbers(vendor, "p.visitors")}""",
        f"""INSERT INTO conversations_tag (id, company_id, name, built_in, takes_value)
            SELECT p.tag_start + t.j, p.company_id, t.name, t.built_in, t.takes_value
            FROM bench_plan p CROSS JOIN ({tags}) AS t""",
        # No explicit ids here: the conversations of all companies are inserted oldest
        # first, so ids and the table's physical order follow time, as in production (a
        # company's conversations scattered among everyone else's), not company by company.
        f"""INSERT INTO conversations_conversation (company_id, widget_id, visitor_id,
                stage, assignee_id, group_id, last_seq, priority, waiting_since,
                visitor_delivered_seq, visitor_read_seq, team_delivered_seq, team_read_seq,
                last_customer_seq, reply_by_email, channel, subject, preview, created_at,
                updated_at)
            SELECT company_id, widget_id, visitor_id,
                   CASE WHEN sb < 50 THEN 'new' WHEN sb < 60 THEN 'suspended'
                        WHEN sb < 120 THEN 'waiting_on_user' WHEN sb < 160 THEN 'needs_response'
                        WHEN sb < 180 THEN 'hold' WHEN sb < 600 THEN 'resolved'
                        ELSE 'archived' END,
                   CASE WHEN sb >= 50 AND sb < 60 THEN NULL
                        WHEN sb < 50 AND ab < 70 THEN NULL
                        WHEN ab < 8 THEN NULL
                        ELSE user_start + au END,
                   NULL, last_seq,
                   CASE WHEN pb < 55 THEN 0 WHEN pb < 88 THEN 1 WHEN pb < 97 THEN 2 ELSE 3 END,
                   CASE WHEN {waiting} THEN {ts("-age - wb")} ELSE NULL END,
                   last_seq, last_seq, last_seq,
                   CASE WHEN {waiting} THEN last_seq - 1 ELSE last_seq END,
                   CASE WHEN {waiting} THEN last_seq ELSE last_seq - 1 END,
                   ab = 99, 'chat', '', 'Hello, a question about order #' || n,
                   {ts("-age - 600 - wb")}, {ts("-age")}
            FROM ({conversations}) AS c
            ORDER BY age + 600 + wb DESC, n""",
        # About 14 % of conversations carry a tag, 3 % two; hashed from the real id.
        f"""INSERT INTO conversations_conversationtag (conversation_id, tag_id, value,
                added_by_id, added_at)
            SELECT id, (company_id - 1) * {len(TAGS)} + 1 + tb % 10,
                   CASE WHEN tb % 10 = 6 THEN 'refunded' ELSE '' END,
                   CAST(NULL AS BIGINT), updated_at
            FROM ({tagged}) AS c WHERE tb < 12
            UNION ALL
            SELECT id, (company_id - 1) * {len(TAGS)} + 1 + (tb + 5) % 10,
                   CASE WHEN (tb + 5) % 10 = 6 THEN 'refunded' ELSE '' END,
                   CAST(NULL AS BIGINT), updated_at
            FROM ({tagged}) AS c WHERE tb < 3""",
    ]


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "plug2support").glob("**/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(vendor: str, conversations: int) -> str:
    import django

    plan = company_plan(conversations)
    max_count = max(max(p["conv_count"], p["visitors"], p["users"]) for p in plan)
    # The code that makes the data (not the code that measures it): editing it remakes.
    code = "".join(inspect.getsource(f) for f in (
        company_plan, _ts, _numbers, generation_sql, generate, _column_defaults,
        _secondary_indexes, check_foreign_keys))
    text = json.dumps({
        "version": GENERATOR_VERSION, "vendor": vendor, "django": django.__version__,
        "plan": plan, "sql": generation_sql(vendor, max_count), "code": code,
        "measured": [MEASURED_USER_INDEX, FILTER_TAG], "migrations": _migrations_digest(),
    }, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- where a generated database lives -----------------------------------------------------------

def pg_url(conversations: int) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/p2s_bench_inbox_{conversations}"


def sqlite_dir(conversations: int) -> Path:
    return CACHE_DIR / f"inbox-sqlite-{conversations}"


def read_marker(vendor: str, conversations: int) -> dict[str, Any] | None:
    """The marker of a kept database ({"fingerprint", "meta"}), or None."""
    try:
        if vendor == "postgresql":
            import psycopg

            with psycopg.connect(pg_url(conversations), connect_timeout=5) as conn:
                row = conn.execute(f"SELECT fingerprint, meta FROM {MARKER}").fetchone()
        else:
            import sqlite3

            path = sqlite_dir(conversations) / "plug2support.sqlite3"
            if not path.exists():
                return None
            lite = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row = lite.execute(f"SELECT fingerprint, meta FROM {MARKER}").fetchone()
            finally:
                lite.close()
    except Exception:  # no database, no table: nothing kept
        return None
    return {"fingerprint": row[0], "meta": json.loads(row[1])} if row else None


# --- generation (its own process, with the product's settings) ------------------------------------

def _recreate_pg_database(conversations: int) -> None:
    import psycopg

    name = pg_url(conversations).rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def generate(args: dict[str, Any]) -> dict[str, Any]:
    """Migrate a fresh database and fill it; the marker is written last, in the same
    transaction as the data, so a half-made database is never taken for a whole one."""
    vendor, conversations = args["vendor"], int(args["conversations"])
    started = time.monotonic()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    assert connection.vendor == vendor, (connection.vendor, vendor)
    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.monotonic()
    plan = company_plan(conversations)
    max_count = max(max(p["conv_count"], p["visitors"], p["users"]) for p in plan)
    steps: dict[str, float] = {}

    def step(name: str, sql: str) -> None:
        t0 = time.monotonic()
        cursor.execute(sql)
        steps[name] = round(time.monotonic() - t0, 2)

    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            if cursor.fetchone()[0]:
                raise RuntimeError(f"{table} is not empty: generate on a fresh database")
        if vendor == "sqlite":
            # A throw-away database being filled: no journal, no fsync. The product's own
            # settings (WAL) apply again on every later connection.
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")
        else:
            cursor.execute("SET synchronous_commit = off")
            cursor.execute("SET work_mem = '256MB'")  # the time-ordered insert sorts
        replica = False
        if vendor == "postgresql":
            cursor.execute("SELECT current_setting('is_superuser')")
            replica = cursor.fetchone()[0] == "on"
        with transaction.atomic():
            if replica:
                # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: PostgreSQL would
                # check them row by row at COMMIT (some 30 s here). The replica role (a
                # superuser's) skips those triggers for this transaction only;
                # check_foreign_keys() then verifies every foreign key of these tables,
                # set-based, before the marker.
                cursor.execute("SET LOCAL session_replication_role = replica")
            defaulted = _column_defaults(cursor, vendor, TABLES)
            columns = ", ".join(f"{c} BIGINT" + (" PRIMARY KEY" if c == "company_id" else "")
                                for c in PLAN_COLUMNS)
            cursor.execute(f"CREATE TABLE bench_plan ({columns})")
            cursor.executemany(
                f"INSERT INTO bench_plan ({', '.join(PLAN_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(PLAN_COLUMNS))})",
                [[p[c] for c in PLAN_COLUMNS] for p in plan])
            # The conversations' secondary indexes are dropped while they are filled and
            # made again from their own definitions (read from the schema) afterwards:
            # building an index from a million rows sorted once beats a million random inserts.
            indexes = _secondary_indexes(cursor, vendor, "conversations_conversation")
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            for sql in generation_sql(vendor, max_count):
                step(" ".join(sql.split()[:3]), sql)
            t0 = time.monotonic()
            for _, definition in indexes:
                cursor.execute(definition)
            steps["conversation indexes made"] = round(time.monotonic() - t0, 2)
            cursor.execute("DROP TABLE bench_plan")
            for table, column in defaulted:
                cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP DEFAULT')
            if vendor == "sqlite":
                # SQLite checks the deferred foreign keys itself, cheaply, at COMMIT.
                cursor.execute("DROP TABLE bench_seq")
            else:
                if replica:
                    cursor.execute("SET LOCAL session_replication_role = origin")
                    t0 = time.monotonic()
                    check_foreign_keys(cursor)
                    steps["foreign keys checked"] = round(time.monotonic() - t0, 2)
                for table in TABLES:  # move the identity sequences past the explicit ids
                    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT MAX(id) FROM {table}))")
            company = plan[0]
            cursor.execute("SELECT COUNT(*) FROM conversations_conversation WHERE company_id = %s "
                           "AND stage NOT IN ('resolved', 'archived', 'suspended')",
                           [company["company_id"]])
            meta = {"conversations": conversations, "companies": len(plan),
                    "company_open": cursor.fetchone()[0],
                    "membership": company["user_start"] + MEASURED_USER_INDEX,
                    "tag": company["tag_start"] + [t[0] for t in TAGS].index(FILTER_TAG),
                    "company_conversations": company["conv_count"],
                    "migrate_s": round(migrated - started, 1)}
            cursor.execute(f"CREATE TABLE {MARKER} (fingerprint VARCHAR(64), meta TEXT)")
            cursor.execute(f"INSERT INTO {MARKER} VALUES (%s, %s)",
                           [fingerprint(vendor, conversations), json.dumps(meta)])
        if vendor == "postgresql":
            # What autovacuum would have done by the time a production database is this big.
            step("VACUUM ANALYZE", "VACUUM ANALYZE")
    return {"steps": steps, **meta, "process_s": round(time.monotonic() - started, 1)}


def _column_defaults(cursor: Any, vendor: str, tables: list[str]) -> list[tuple[str, str]]:
    """PostgreSQL: give every NOT NULL column of `tables` that has a default in its model
    (Django keeps them in Python, not in the schema) that default in the schema for the load,
    so columns added since the generator's SQL was written take their model default rather
    than failing the INSERT. Returns the (table, column) pairs, whose defaults the caller drops
    again. SQLite cannot alter a column's default: its generator's SQL names every column."""
    from django.apps import apps
    from django.db import connection

    if vendor != "postgresql":
        return []
    defaulted = []
    for model in apps.get_models():
        if model._meta.db_table not in tables:
            continue
        for field in model._meta.concrete_fields:
            if field.null or not field.has_default() or field.primary_key:
                continue
            value = field.get_db_prep_save(field.get_default(), connection)
            cursor.execute(f'ALTER TABLE "{model._meta.db_table}" ALTER COLUMN '
                           f'"{field.column}" SET DEFAULT %s', [value])
            defaulted.append((model._meta.db_table, field.column))
    return defaulted


def _secondary_indexes(cursor: Any, vendor: str, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the table's indexes that back no constraint of the
    table itself (its primary key and inline unique constraints stay)."""
    if vendor == "postgresql":
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
                       "AND indexname NOT IN (SELECT conname FROM pg_constraint "
                       "WHERE conrelid = %s::regclass) "
                       "ORDER BY quote_ident(indexname)::regclass::oid", [table, table])
    else:
        # In creation order, kept when they are made again: SQLite's planner breaks a tie
        # between two indexes by taking the one created last.
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                       "AND tbl_name = %s AND sql IS NOT NULL ORDER BY rowid", [table])
    return [(name, definition) for name, definition in cursor.fetchall()]


TABLES = ["accounts_company", "accounts_user", "accounts_membership", "widgets_widget",
          "widgets_visitor", "conversations_tag", "conversations_conversation",
          "conversations_conversationtag"]


def check_foreign_keys(cursor: Any) -> None:
    """Every foreign key of the generated tables (read from the schema, so a new one is
    covered too) names an existing row: one anti-join per key."""
    from django.db import connection

    for table in TABLES:
        for name, info in connection.introspection.get_constraints(cursor, table).items():
            if not info["foreign_key"]:
                continue
            (column,) = info["columns"]
            parent, parent_column = info["foreign_key"]
            cursor.execute(
                f'SELECT COUNT(*) FROM "{table}" c WHERE c."{column}" IS NOT NULL '
                f'AND NOT EXISTS (SELECT 1 FROM "{parent}" p '
                f'WHERE p."{parent_column}" = c."{column}")')
            missing = cursor.fetchone()[0]
            if missing:
                raise RuntimeError(f"{name}: {missing} rows of {table} name no {parent} row")


# --- measuring (its own process, pinned, with the product's settings) -----------------------------

def measure(args: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from plug2support.accounts.models import Membership
    from plug2support.conversations.inbox import Filters, inbox_summaries_json

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT meta FROM {MARKER}")
        meta = json.loads(cursor.fetchone()[0])
    membership = Membership.objects.select_related("user").get(pk=meta["membership"])
    cases = {
        "first_page": Filters(),
        "filtered": Filters(view="all", stage="needs_response", tag=meta["tag"]),
        "mine": Filters(view="mine"),
    }

    def inbox_list(filters: Filters) -> str:
        # What views.inbox_list does once it has the membership and the filters.
        return f'{{"conversations": {inbox_summaries_json(membership, filters)}}}'

    iterations, warmup = int(args.get("iterations", 150)), int(args.get("warmup", 20))
    results: dict[str, Any] = {}
    for name, filters in cases.items():
        call = lambda f=filters: inbox_list(f)  # noqa: E731
        for _ in range(warmup):
            call()
        with CaptureQueriesContext(connection) as captured:
            call()
        executed = _executed(call)
        results[name] = {
            **_timed(call, iterations), "queries": len(captured.captured_queries),
            "rows": len(json.loads(inbox_summaries_json(membership, filters))),
            # The same statements with the same parameters through a bare cursor: the
            # database's share (and the driver's), without the ORM building the rows.
            "sql": _timed(lambda e=executed: _replay(e), iterations),
        }
        if args.get("explain"):
            results[name]["plans"] = _plans(executed)
    return {"vendor": connection.vendor, "meta": meta, **results}


def _timed(call: Any, runs: int) -> dict[str, float]:
    timings = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        call()
        timings.append((time.perf_counter_ns() - t0) / 1e6)
    return {"p50_ms": percentile(timings, 50), "p99_ms": percentile(timings, 99)}


def _executed(call: Any) -> list[tuple[str, Any]]:
    """The statements `call` runs, with the very parameters it binds."""
    from django.db import connection

    executed: list[tuple[str, Any]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        executed.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        call()
    return executed


def _replay(executed: list[tuple[str, Any]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql, params in executed:
            cursor.execute(sql, params)
            cursor.fetchall()


def _plans(executed: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN ANALYZE (PostgreSQL) / EXPLAIN QUERY PLAN (SQLite) of each statement."""
    from django.db import connection

    plans = []
    with connection.cursor() as cursor:
        for sql, params in executed:
            if connection.vendor == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
                plans.append("\n".join(str(row[-1]) for row in cursor.fetchall()))
    return plans


# --- the scenario, for run.py ----------------------------------------------------------------

@contextmanager
def _locked() -> Iterator[None]:
    """One generator at a time on this machine (two bench runs share the kept databases)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "inbox.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _env(vendor: str, conversations: int, var_dir: Path) -> dict[str, str]:
    env = {**os.environ, **product_env(str(var_dir))}
    env.pop("DATABASE_URL", None)
    if vendor == "postgresql":
        env["DATABASE_URL"] = pg_url(conversations)
    return env


def _run(command: str, args: dict[str, Any], env: dict[str, str], *, pin: bool,
         timeout: float) -> dict[str, Any]:
    cmd = [PYTHON, "-m", "bench.inbox_scale", command, json.dumps(args)]
    out = subprocess.run(pinned(cmd, SERVER_CORE) if pin else cmd, cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"inbox_scale {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def ensure_database(vendor: str, conversations: int) -> dict[str, Any]:
    """The kept database if its marker's fingerprint is current; else a new one. Returns the
    marker's meta, with "reused" and, for a new one, the generation's own figures."""
    with _locked():
        wanted = fingerprint(vendor, conversations)
        marker = read_marker(vendor, conversations)
        if marker and marker["fingerprint"] == wanted:
            return {**marker["meta"], "reused": True}
        started = time.monotonic()
        final = sqlite_dir(conversations)
        if vendor == "postgresql":
            _recreate_pg_database(conversations)
            var_dir = CACHE_DIR / "inbox-pg-var"
            var_dir.mkdir(parents=True, exist_ok=True)
        else:
            for old in CACHE_DIR.glob(f"{final.name}*"):  # an old set, or a half-made one
                shutil.rmtree(old, ignore_errors=True)
            var_dir = final.with_name(final.name + ".new")
        result = _run("generate", {"vendor": vendor, "conversations": conversations},
                      _env(vendor, conversations, var_dir), pin=False, timeout=600)
        if vendor == "sqlite":
            var_dir.rename(final)
        # The whole of it (a new database, migrate, the data, VACUUM ANALYZE), wall clock;
        # kept in the marker, so a later run can say what the data it reuses cost.
        result["generated_s"] = round(time.monotonic() - started, 1)
        _update_marker_meta(vendor, conversations, {"generated_s": result["generated_s"]})
        return {**result, "reused": False}


def _update_marker_meta(vendor: str, conversations: int, extra: dict[str, Any]) -> None:
    marker = read_marker(vendor, conversations)
    assert marker is not None
    meta = json.dumps({**marker["meta"], **extra})
    if vendor == "postgresql":
        import psycopg

        with psycopg.connect(pg_url(conversations)) as conn:
            conn.execute(f"UPDATE {MARKER} SET meta = %s", [meta])
    else:
        import sqlite3

        lite = sqlite3.connect(sqlite_dir(conversations) / "plug2support.sqlite3")
        try:
            with lite:
                lite.execute(f"UPDATE {MARKER} SET meta = ?", [meta])
        finally:
            lite.close()


def measure_database(vendor: str, conversations: int, iterations: int,
                     explain: bool = False) -> dict[str, Any]:
    var_dir = sqlite_dir(conversations) if vendor == "sqlite" else CACHE_DIR / "inbox-pg-var"
    return _run("measure", {"iterations": iterations, "explain": explain},
                _env(vendor, conversations, var_dir), pin=True, timeout=600)


def _fmt(stats: dict[str, float], pattern: str) -> str:
    """As run.py's fmt: the median, with min–max when the runs differ."""
    if stats["min"] == stats["max"]:
        return pattern.format(stats["median"])
    return (f"{pattern.format(stats['median'])} "
            f"({pattern.format(stats['min'])}–{pattern.format(stats['max'])})")


CASES = [  # key, label, target
    ("first_page", "first page (All open, 100 rows)", "p99 ≤ 5 ms"),
    ("filtered", "a filtered page (All, Needs response, one tag)", ""),
    ("mine", "the Mine view (100 rows)", ""),
]


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def inbox_scale(runs: int, quick: bool, iterations: int | None = None) -> list[dict[str, Any]]:
    """Rows for the README table, for PostgreSQL then SQLite: how the data was had, then the
    first page, a filtered page and the Mine view of an operator of the biggest company, each
    p50 / p99 over `iterations` calls (300; 100 in quick mode: the p99 of 60 calls was the
    worst call or the one before it, which moved by half from one run to the next) in each
    of `runs` processes (median, min–max over them), the queries of one call, and the same
    queries alone."""
    conversations = QUICK if quick else FULL
    iterations = iterations or (100 if quick else 300)
    rows: list[dict[str, Any]] = []
    for vendor, label in (("postgresql", "PostgreSQL"), ("sqlite", "SQLite")):
        scenario = f"Inbox at {conversations:,} conversations ({label})"
        if vendor == "postgresql" and not _pg_available():
            rows.append({"scenario": scenario, "measure": "not run",
                         "value": f"no PostgreSQL at {PG_ADMIN_URL}", "target": ""})
            continue
        data = ensure_database(vendor, conversations)
        made = f"{data.get('generated_s', float('nan')):.0f} s"
        rows.append({
            "scenario": scenario,
            "measure": f"data: {data['companies']:,} companies; the operator's has "
                       f"{data['company_conversations']:,} conversations, "
                       f"{data['company_open']:,} open",
            "value": f"kept from an earlier run (generated in {made})" if data["reused"]
            else f"generated in {made}",
            "target": ""})
        results = [measure_database(vendor, conversations, iterations) for _ in range(runs)]
        for key, label_, target in CASES:
            cases = [r[key] for r in results]
            queries = "/".join(str(q) for q in sorted({c["queries"] for c in cases}))
            rows.append({
                "scenario": scenario,
                "measure": f"{label_}: p50 / p99 through the JSON list "
                           "(inbox_summaries_json); queries",
                "value": f"p50 {_ms(cases, 'p50_ms')}, "
                         f"p99 {_ms(cases, 'p99_ms')}; "
                         f"{queries} queries, {cases[0]['rows']} rows; the queries alone "
                         f"p50 {_ms([c['sql'] for c in cases], 'p50_ms')}, "
                         f"p99 {_ms([c['sql'] for c in cases], 'p99_ms')}",
                "target": target})
    return rows


def _ms(results: list[dict[str, Any]], key: str) -> str:
    return _fmt(summary([r[key] for r in results]), "{:.1f}") + " ms"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("generate", "measure"):
        args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
        result = generate(args) if sys.argv[1] == "generate" else measure(args)
        print(json.dumps(result))
        return
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    for row in inbox_scale(int(args.get("runs", 1)), bool(args.get("quick", False)),
                           args.get("iterations")):
        print(f"{row['scenario']:<48} {row['measure']:<70} {row['value']}")


if __name__ == "__main__":
    main()
