"""Where a worker's time goes on one inbound message: `processing.process_now` run in this process
on N messages of bench/mail_load.py, stored through intake.accept (no gateway, no task
runner, no profiler), each part of processing.py timed by the wall clock with its queries
counted. `python -m bench.mail_breakdown [N]` (default 400) on SQLite in a temporary
directory, or, with DATABASE_URL, on its server in bench/mail_ingest.py's database
`p2s_bench_mail` (made again, dropped at the end). Pin it to a core for steadier figures
(`taskset -c 0`).
"""

from __future__ import annotations

import collections
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

PARTS = ["parse", "do_claim_email", "find_conversation", "_visitor_for", "do_receive_email",
         "_store_files", "_too_many_new", "_claims_verified_contact", "_details",
         "communication_block"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    var_dir = tempfile.mkdtemp(prefix="p2s-bench-mail-breakdown-")
    os.environ.update({"P2S_VAR_DIR": var_dir, "LOG_LEVEL": "WARNING",
                       "DJANGO_SETTINGS_MODULE": "plug2support.settings"})
    from bench import mail_ingest

    if mail_ingest.postgres():
        mail_ingest.pg_admin(f"DROP DATABASE IF EXISTS {mail_ingest.PG_DB} WITH (FORCE)")
        mail_ingest.pg_admin(f"CREATE DATABASE {mail_ingest.PG_DB}")
        os.environ["DATABASE_URL"] = f"{mail_ingest.pg_server()}/{mail_ingest.PG_DB}"
    try:
        run(n)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
        if mail_ingest.postgres():
            from django.db import connections

            connections.close_all()
            mail_ingest.pg_admin(f"DROP DATABASE IF EXISTS {mail_ingest.PG_DB} WITH (FORCE)")


def run(n: int) -> None:
    import django

    django.setup()
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from bench.mail_load import Mail, senders_for
    from bench.mail_setup import setup
    from plug2support.mail import intake, processing
    from plug2support.mail.models import InboundMail, Via

    address = setup()["address"]
    spent: dict[str, list[float]] = collections.defaultdict(list)
    queries: dict[str, list[int]] = collections.defaultdict(list)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                result = fn(*args, **kwargs)
            spent[name].append(time.perf_counter() - started)
            queries[name].append(len(captured))
            return result
        return inner

    for name in PARTS:
        setattr(processing, name, timed(name, getattr(processing, name)))
    mail = Mail(address, senders_for(n), "x")
    started = time.perf_counter()
    ids = [intake.accept(mail.build(i), [address], via=Via.SMTP)[0].mail.pk for i in range(n)]
    accepted = (time.perf_counter() - started) / n
    total: list[float] = []
    counts: list[int] = []
    for pk in ids:
        reset_queries()  # the query log keeps 9 000: counts past it would read 0
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            processing.process_now(pk)
        total.append(time.perf_counter() - started)
        counts.append(len(captured))
    print(f"{connection.vendor}, {n} messages")
    print(f"intake.accept (what the gateway does after RCPT): {accepted * 1000:.2f} ms")
    print(f"process_now: median {statistics.median(total) * 1000:.2f} ms, mean "
          f"{statistics.fmean(total) * 1000:.2f} ms, {statistics.fmean(counts):.1f} queries")
    for name, values in sorted(spent.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {name:26} {sum(values) / n * 1000:6.2f} ms a message, "
              f"{sum(queries[name]) / n:4.1f} queries")
    print(dict(collections.Counter(InboundMail.objects.values_list("status", flat=True))))


if __name__ == "__main__":
    main()
