"""Issue 18 (M7): the view list's live counts at 1 000 000 conversations, on PostgreSQL.

    python -m bench.view_counts '{"runs": 3, "iterations": 300}'
    python -m bench.view_counts measure '{"iterations": 300}'  (DJANGO_SETTINGS_MODULE etc. set)

The data is the inbox scenario's (bench/inbox_scale.py: 10 000 companies, made by set-based
SQL over generate_series, the biggest company 40 000 conversations of which 7 200 are not
closed), generated into a database of this scenario's own (`p2s_bench_view_counts_<n>`, or
VIEW_COUNTS_DB): `make bench` keeps and reuses the inbox scenario's, and a branch with other
migrations must not drop it from under it.

What a recount costs the process (realtime/endpoints/counts.py): one
`inbox.counts.company_counts` for the biggest company (one statement, prepared), then every
member's counts from its rows in Python (`counts_for`, 25 members): p50/p99 over N calls
after a warm-up, the statement's plan with "explain"."""

# ruff: noqa: S603
from __future__ import annotations

import json
import os
import sys
from typing import Any

from bench import inbox_scale as scale
from bench.common import summary

NAME = os.environ.get("VIEW_COUNTS_DB", "p2s_bench_view_counts")


def _pg_url(conversations: int) -> str:
    return f"{scale.PG_ADMIN_URL.rsplit('/', 1)[0]}/{NAME}_{conversations}"


# This scenario's own copy of the inbox scenario's data (the module docstring says why).
scale.pg_url = _pg_url


def measure(args: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from plug2support.accounts.models import Membership
    from plug2support.conversations.inbox.counts import _SQL, company_counts, counts_for

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT meta FROM {scale.MARKER}")  # noqa: S608 (our own name)
        meta = json.loads(cursor.fetchone()[0])
    company_id = Membership.objects.get(pk=meta["membership"]).company_id
    members = list(Membership.objects.filter(company_id=company_id)
                   .values_list("user_id", flat=True))

    def recount() -> list[dict[str, int]]:
        counted = company_counts(company_id)
        return [counts_for(counted, user_id) for user_id in members]

    iterations, warmup = int(args.get("iterations", 300)), int(args.get("warmup", 20))
    for _ in range(warmup):
        recount()
    with CaptureQueriesContext(connection) as captured:
        answer = recount()
    result: dict[str, Any] = {
        "recount": scale._timed(recount, iterations),
        "statement": scale._timed(lambda: company_counts(company_id), iterations),
        "queries": len(captured.captured_queries), "members": len(members),
        "groups": len(company_counts(company_id).rows),
        "example": answer[min(2, len(answer) - 1)], "meta": meta,
    }
    if args.get("explain"):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + _SQL, [company_id])
            result["plan"] = "\n".join(row[0] for row in cursor.fetchall())
    return result


def _run_measure(args: dict[str, Any]) -> dict[str, Any]:
    var_dir = scale.CACHE_DIR / "view-counts-pg-var"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = scale._env("postgresql", scale.FULL, var_dir)
    cmd = [scale.PYTHON, "-m", "bench.view_counts", "measure", json.dumps(args)]
    import subprocess

    out = subprocess.run(scale.pinned(cmd, scale.SERVER_CORE), cwd=scale.ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"view_counts measure failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def view_counts(runs: int, iterations: int, explain: bool = False) -> list[dict[str, Any]]:
    scenario = "View counts at 1,000,000 conversations (PostgreSQL)"
    if not scale._pg_available():
        return [{"scenario": scenario, "measure": "not run",
                 "value": f"no PostgreSQL at {scale.PG_ADMIN_URL}", "target": ""}]
    data = scale.ensure_database("postgresql", scale.FULL)
    results = [_run_measure({"iterations": iterations, "explain": explain})
               for _ in range(runs)]
    made = f"{data.get('generated_s', float('nan')):.0f} s"

    def ms(key: str, part: str) -> str:
        return scale._fmt(summary([r[part][key] for r in results]), "{:.2f}") + " ms"

    first = results[0]
    return [
        {"scenario": scenario,
         "measure": f"data: {data['companies']:,} companies; the measured one has "
                    f"{data['company_conversations']:,} conversations, "
                    f"{data['company_open']:,} open",
         "value": "kept from an earlier run" if data["reused"] else f"generated in {made}",
         "target": ""},
        {"scenario": scenario,
         "measure": f"a recount: the company's statement, then its {first['members']} "
                    f"members' counts in Python; queries",
         "value": f"p50 {ms('p50_ms', 'recount')}, p99 {ms('p99_ms', 'recount')}; "
                  f"{first['queries']} query, {first['groups']} groups; the statement "
                  f"alone p50 {ms('p50_ms', 'statement')}, p99 {ms('p99_ms', 'statement')}",
         "target": "p99 ≤ 10 ms"},
        *([{"scenario": scenario, "measure": "plan", "value": first["plan"], "target": ""}]
          if explain else []),
    ]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        print(json.dumps(measure(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})))
        return
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    for row in view_counts(int(args.get("runs", 1)), int(args.get("iterations", 300)),
                           bool(args.get("explain", False))):
        print(f"{row['scenario']:<52} {row['measure']:<60} {row['value']}")


if __name__ == "__main__":
    main()
