"""A bulk resolve of 500 conversations (issue 18 point 5, SPEC M5) on PostgreSQL: target
≤ 2 s on this machine.

    python -m bench.bulk_resolve            # 3 measured runs
    python -m bench.bulk_resolve --runs 1

A fresh database (BENCH_PG_URL's server, database p2s_bench_bulk) is migrated; a company
gets 2 000 conversations from real visitor messages (`do_post_visitor_message`), each then
put in Needs response with a tag, served by the owner. Each run resolves 500 of them through
the product's own `do_bulk` (the HTTP endpoint's action: each row through `do_move_stage`,
its StageChange row, its event, its summary published on commit), in a fresh process pinned
to the server's core; wall time of the call. The runs take different conversations.
"""

# SQL made from this module's own constants; subprocesses of our own commands.
# ruff: noqa: S603, S608, S106 (the bench's owner never logs in)
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.common import PYTHON, ROOT, SERVER_CORE, pinned, product_env, summary

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB = "p2s_bench_bulk"
CONVERSATIONS = 2000
BATCH = 500


def _url() -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{DB}"


def _child(command: str, args: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, **product_env(tempfile.gettempdir(), DATABASE_URL=_url())}
    env.pop("REDIS_URL", None)  # the in-process bus: the action's cost, not Redis's
    cmd = [PYTHON, "-m", "bench.bulk_resolve", command, json.dumps(args)]
    out = subprocess.run(pinned(cmd, SERVER_CORE), cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(f"bulk_resolve {command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def generate(args: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from plug2support.accounts.models import Company, Membership, Role, User
    from plug2support.conversations.actions.messages import do_post_visitor_message
    from plug2support.conversations.actions.tags import tags_for
    from plug2support.conversations.actions.visitors import do_identify_visitor
    from plug2support.conversations.models import Conversation, ConversationTag, Stage
    from plug2support.widgets.models import Widget

    company = Company.objects.create(name="Bulk")
    owner = User.objects.create_user(email="owner@bulk.test", name="Owner", password="x")
    Membership.objects.create(user=owner, company=company, role=Role.OWNER)
    widget = Widget.objects.create(company=company, name="Bulk site")
    for i in range(args["conversations"]):
        visitor, _ = do_identify_visitor(widget, None)
        do_post_visitor_message(visitor, client_id=f"c{i}", body=f"Question number {i}")
    Conversation.objects.filter(company=company).update(stage=Stage.NEEDS_RESPONSE,
                                                        assignee=owner)
    tag = tags_for(company.pk)[0]
    ConversationTag.objects.bulk_create(
        [ConversationTag(conversation_id=pk, tag=tag) for pk in
         Conversation.objects.filter(company=company).values_list("pk", flat=True)])
    return {"company": company.pk}


def measure(args: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from plug2support.accounts.models import Membership
    from plug2support.conversations.actions.bulk import do_bulk
    from plug2support.conversations.models import Conversation, Stage

    member = Membership.objects.select_related("user", "company").get(company_id=args["company"])
    ids = list(Conversation.objects.filter(company_id=args["company"],
                                           stage=Stage.NEEDS_RESPONSE)
               .order_by("?").values_list("pk", flat=True)[:args["batch"]])
    started, cpu = time.perf_counter(), time.process_time()
    result = do_bulk(member, ids, "resolve")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.as_dict()["changed"] == len(ids) == args["batch"], result.refused[:3]
    return {"seconds": seconds, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    made = _child("generate", {"conversations": CONVERSATIONS})
    measured = [_child("measure", {"company": made["company"], "batch": BATCH})
                for _ in range(options.runs)]
    runs = [m["seconds"] for m in measured]
    cpu = summary([m["cpu"] for m in measured])
    print(json.dumps({"batch": BATCH, "runs": runs, **summary(runs), "python_cpu": cpu,
                      "load_average": os.getloadavg()}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("generate", "measure"):
        print(json.dumps({"generate": generate, "measure": measure}[sys.argv[1]](
            json.loads(sys.argv[2]))))
    else:
        main()
