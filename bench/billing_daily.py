"""The daily subscription update (issue 6, SPEC H4) for 100 000 companies on PostgreSQL:
target under 60 s on this machine.

    make bench-billing                 # 100 000 companies, 3 measured runs
    python -m bench.billing_daily --quick   # 10 000 companies, 1 run

1. A fresh database (BENCH_PG_URL's server, database p2s_bench_billing) is migrated and
   filled by set-based SQL: N companies made over the last year, an owner and a widget each,
   and their visitors' messages of the last 40 days — most companies have a handful of
   interlocutors, one in fifty has 150 to 299 in the last four days (around Free's limit of
   200, so the traffic alerts and blocks have work to do) — and a subscription each: 70 %
   on Free, 30 % on Startup with paid periods ending from 3 days ago to 39 days ahead
   (payment alerts and blocks), each in the billing period it is in on the day before.
2. The update of the day before the measured day runs once (not measured): the state a
   normal morning starts from. The database is then kept as a template.
3. Each measured run copies the template (CREATE DATABASE … TEMPLATE) and runs the measured
   day's update in a fresh process, through the product's own `update_subscriptions`, with
   its alerts (console notifications, e-mails queued as tasks in the database); wall time.
   Then the same day again in the same database: the re-run that must change nothing.

Results are printed and written into bench/README.md between the billing markers.
"""

# SQL made from this module's own constants and numbers; subprocesses of our own commands.
# ruff: noqa: S603, S608
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.common import PYTHON, ROOT, SERVER_CORE, pinned, product_env, summary

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB = "p2s_bench_billing"
TEMPLATE = "p2s_bench_billing_template"
DAY = dt.date(2026, 12, 10)  # the measured day; its 02:00 UTC is the slot
README = ROOT / "bench" / "README.md"
MARK_START, MARK_END = "<!-- billing:start -->", "<!-- billing:end -->"


def _url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def _admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _env(name: str) -> dict[str, str]:
    return {**os.environ, **product_env(tempfile.gettempdir(), DATABASE_URL=_url(name))}


def _child(command: str, args: dict[str, Any], name: str, pin: bool = True) -> dict[str, Any]:
    cmd = [PYTHON, "-m", "bench.billing_daily", command, json.dumps(args)]
    out = subprocess.run(pinned(cmd, SERVER_CORE) if pin else cmd, cwd=ROOT, env=_env(name),
                         capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(f"billing_daily {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- in the child processes -------------------------------------------------------------------

def generate(args: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    companies = int(args["companies"])
    started = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    day = f"'{DAY.isoformat()} 02:00:00+00'::timestamptz"
    steps: dict[str, float] = {}
    statements = {
        "companies": f"""
            INSERT INTO accounts_company (id, name, created_at)
            SELECT i, 'Company ' || i, {day} - interval '30 days'
                   - (i % 330) * interval '1 day' - (i * 7919 % 86400) * interval '1 second'
            FROM generate_series(1, {companies}) i""",
        "owners": f"""
            INSERT INTO accounts_user (id, password, is_superuser, is_staff, is_active,
                                       date_joined, email, name)
            SELECT i, '!', false, false, true, {day} - interval '400 days',
                   'owner' || i || '@bench.test', 'Owner ' || i
            FROM generate_series(1, {companies}) i""",
        "memberships": f"""
            INSERT INTO accounts_membership (user_id, company_id, role, status, created_at)
            SELECT i, i, 'owner', 'offline', {day} - interval '400 days'
            FROM generate_series(1, {companies}) i""",
        "widgets": f"""
            INSERT INTO widgets_widget (id, name, key, secret, title, allowed_origins,
                                        created_at, company_id, hours_enabled, timezone,
                                        launcher_logo, brand_logo, alignment, spacing_side,
                                        spacing_bottom, appearance, brand_color,
                                        search_enabled)
            SELECT i, 'Site', 'k' || i, 's' || i, 'Hi', '', {day} - interval '400 days', i,
                   false, 'UTC', '', '', 'right', 20, 20, 'light', '#4f46e5', false
            FROM generate_series(1, {companies}) i""",
        # Interlocutors per company: one in fifty (on Free) has 150–299, all writing in the
        # last four days (some over the limit, some for more than a day); the others 0–12.
        "visitors": f"""
            INSERT INTO widgets_visitor (id, token_hash, created_at, last_seen_at, widget_id,
                                         email)
            SELECT row_number() OVER (), md5(c || ':' || v), {day} - interval '50 days',
                   {day} - interval '1 day', c, ''
            FROM generate_series(1, {companies}) c,
                 generate_series(1, CASE WHEN c % 50 = 5 THEN 150 + c * 37 % 150 ELSE c % 13 END) v
        """,
        "conversations": f"""
            INSERT INTO conversations_conversation (id, stage, last_seq, preview, created_at,
                updated_at, company_id, visitor_id, widget_id, reply_by_email,
                team_delivered_seq, team_read_seq, visitor_delivered_seq, visitor_read_seq,
                priority)
            SELECT v.id, 'needs_response', 2, 'Hello', {day} - interval '45 days',
                   {day} - interval '1 day', v.widget_id, v.id, v.widget_id, false, 0, 0, 0,
                   0, 1
            FROM widgets_visitor v""",
        # Two messages per interlocutor over the last 40 days (the second a day later).
        "messages": f"""
            INSERT INTO conversations_event (conversation_id, seq, kind, sender, body,
                                             staff_only, created_at)
            SELECT c.id, s, 'message', 'visitor', 'Hello', false,
                   {day} - (c.id * 7907 % (CASE WHEN c.company_id % 50 = 5 THEN 4 ELSE 40 END
                                           * 86400)) * interval '1 second'
                   + (s - 1) * interval '1 hour'
            FROM conversations_conversation c, generate_series(1, 2) s""",
        "subscriptions": f"""
            INSERT INTO billing_subscription (company_id, plan_id, anchor, seats, term_months,
                paid_until, credit, period_start, traffic, boost, payment_blocked)
            SELECT c.id,
                   CASE WHEN c.id % 10 < 3 THEN startup.id ELSE free.id END,
                   c.created_at, 1, 1,
                   CASE WHEN c.id % 10 < 3 THEN {day} + ((c.id % 43) - 3) * interval '1 day'
                        + (c.id % 86400) * interval '1 second' END,
                   0,
                   -- The period the company is in on the day before (as periods.period_at:
                   -- whole months from the anchor, the day clamped to the month's length).
                   c.created_at + interval '1 month' * (
                       extract(year from age({day} - interval '1 day', c.created_at)) * 12
                       + extract(month from age({day} - interval '1 day', c.created_at))),
                   0, 0, false
            FROM accounts_company c,
                 (SELECT id FROM billing_plan WHERE code = 'free') free,
                 (SELECT id FROM billing_plan WHERE code = 'startup') startup""",
    }
    with connection.cursor() as cursor:
        for name, sql in statements.items():
            t0 = time.monotonic()
            cursor.execute(sql)
            steps[name] = round(time.monotonic() - t0, 2)
        for table in ("accounts_company", "accounts_user", "accounts_membership",
                      "widgets_widget", "widgets_visitor", "conversations_conversation",
                      "conversations_event", "billing_subscription"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT MAX(id) FROM {table}))")
        cursor.execute("SELECT COUNT(*) FROM conversations_event")
        messages = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"companies": companies, "messages": messages, "steps": steps,
            "generated_s": round(time.monotonic() - started, 1)}


def update(args: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection

    from plug2support.billing.daily import update_subscriptions
    from plug2support.billing.models import Alert, Subscription

    day = dt.date.fromisoformat(args["day"])
    alerts_before = Alert.objects.count()
    started = time.monotonic()
    outcome = update_subscriptions(day)
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5(string_agg(concat_ws(',', company_id, period_start, traffic,"
                       " over_limit_since, traffic_blocked_period, payment_blocked), ';' "
                       "ORDER BY company_id)) FROM billing_subscription")
        state = cursor.fetchone()[0]
    return {"seconds": round(seconds, 2), "companies": outcome.companies,
            "new_periods": outcome.new_periods,
            "blocked_for_traffic": outcome.blocked_for_traffic,
            "blocked_for_payment": outcome.blocked_for_payment,
            "alerts": Alert.objects.count() - alerts_before, "state": state,
            "subscriptions": Subscription.objects.count()}


# --- the scenario -------------------------------------------------------------------------------

def billing_daily(companies: int, runs: int) -> list[dict[str, Any]]:
    scenario = f"Daily subscription update ({companies:,} companies, PostgreSQL)"
    _admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)',
           f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)', f'CREATE DATABASE "{TEMPLATE}"')
    try:
        made = _child("generate", {"companies": companies}, TEMPLATE, pin=False)
        yesterday = _child("update", {"day": (DAY - dt.timedelta(days=1)).isoformat()},
                           TEMPLATE)
        first, again = [], []
        for _ in range(runs):
            _admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)',
                   f'CREATE DATABASE "{DB}" TEMPLATE "{TEMPLATE}"')
            first.append(_child("update", {"day": DAY.isoformat()}, DB))
            again.append(_child("update", {"day": DAY.isoformat()}, DB))
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)',
               f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    unchanged = all(a["state"] == f["state"] and a["alerts"] == 0
                    for a, f in zip(again, first, strict=True))
    one = first[0]
    label = "" if runs > 1 else ", 1 run"
    return [
        {"scenario": scenario, "measure": "data",
         "value": f"{made['messages']:,} visitor messages of the last 40 days; generated in "
                  f"{made['generated_s']:.0f} s; the day before's update took "
                  f"{yesterday['seconds']:.1f} s", "target": ""},
        {"scenario": scenario, "measure": f"the day's update, wall time{label}",
         "value": f"{_fmt([r['seconds'] for r in first])} s: {one['companies']:,} companies, "
                  f"{one['new_periods']:,} new periods, {one['alerts']:,} alerts sent, "
                  f"{one['blocked_for_traffic']:,} blocked for traffic, "
                  f"{one['blocked_for_payment']:,} for payment", "target": "< 60 s"},
        {"scenario": scenario, "measure": f"the same day again (a second run){label}",
         "value": f"{_fmt([r['seconds'] for r in again])} s; "
                  f"{'nothing changed, no alert twice' if unchanged else 'CHANGED THE STATE'}",
         "target": "changes nothing"},
    ]


def _fmt(values: list[float]) -> str:
    stats = summary(values)
    if stats["min"] == stats["max"]:
        return f"{stats['median']:.1f}"
    return f"{stats['median']:.1f} ({stats['min']:.1f}–{stats['max']:.1f})"


def write_readme(rows: list[dict[str, Any]], runs: int) -> None:
    from bench.run import machine

    table = ["| scenario | measure | result (median, min–max) | target |",
             "| --- | --- | --- | --- |"]
    table += [f"| {r['scenario']} | {r['measure']} | {r['value']} | {r['target']} |"
              for r in rows]
    block = "\n".join([MARK_START, f"Run on {dt.date.today().isoformat()}, {machine()}; "
                       f"{'median of 3 runs' if runs > 1 else '1 run'}.", "", *table,
                       MARK_END])
    text = README.read_text()
    start, end = text.index(MARK_START), text.index(MARK_END) + len(MARK_END)
    README.write_text(text[:start] + block + text[end:])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("generate", "update"):
        args = json.loads(sys.argv[2])
        print(json.dumps(generate(args) if sys.argv[1] == "generate" else update(args)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    started = time.monotonic()
    runs = 1 if options.quick else 3
    rows = billing_daily(10_000 if options.quick else 100_000, runs)
    for row in rows:
        print(f"{row['measure']:<45} {row['value']}")
    write_readme(rows, runs)
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
