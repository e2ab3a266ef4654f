"""Service targets (K3): the periodic job warns once before a breach and records the breach
at its due time, exactly once with two workers at once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection

from plug2support.notifications.models import Notification
from plug2support.ops.periodic import JOBS, tick
from plug2support.sla.due import check_due
from plug2support.sla.models import SlaClock, SlaFact

from .conftest import make_tenant
from .test_sla_clocks import MON, at, open_chat, policy


@pytest.mark.django_db
def test_warning_once_before_the_breach_then_the_breach_at_its_due_time() -> None:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    policy(acme, first_response_minutes=60, resolution_minutes=None, warn_percent=20)
    conversation = open_chat(acme, at(MON, 9))
    open_chat(globex, at(MON, 9))  # no policy: no clock, nothing told
    first = SlaClock.objects.get(conversation=conversation)
    assert first.warn_at == at(MON, 9, 48)
    assert check_due(at(MON, 9, 47)) == {"breached": 0, "warned": 0}
    assert check_due(at(MON, 9, 48)) == {"breached": 0, "warned": 1}
    assert check_due(at(MON, 9, 59)) == {"breached": 0, "warned": 0}  # once per clock
    # Unassigned: every member of the company who can take it is warned, nobody else.
    warned = Notification.objects.filter(kind="sla_warning")
    assert {n.company_id for n in warned} == {acme.company.pk}
    assert warned.count() == 1 + len(acme.operators)
    job = next(j for j in JOBS if j.name == "sla.check_due")
    # A worker that was down catches up: the breach is dated at its due time.
    late = at(MON, 10, 7, ) + timedelta(seconds=20)
    with time_machine.travel(late, tick=False):
        assert tick(now=late, jobs=[job]) == [(job.name, at(MON, 10, 7))]
    first.refresh_from_db()
    assert first.breached_at == at(MON, 10)
    breach = SlaFact.objects.get(fact="breach")
    assert breach.at == at(MON, 10) and breach.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.sla is not None and conversation.sla["breached"] is True
    assert check_due(at(MON, 10, 30)) == {"breached": 0, "warned": 0}


@pytest.mark.django_db(transaction=True)
def test_two_workers_record_each_breach_and_warning_once() -> None:
    acme = make_tenant("Acme")
    policy(acme, first_response_minutes=30, resolution_minutes=None, warn_minutes=10)
    for minute in range(5):
        open_chat(acme, at(MON, 9, minute))
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(check_due(at(MON, 12)))
        except Exception as error:  # shown by the assertion below
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["breached"] for r in results) == 5
    assert SlaFact.objects.filter(fact="breach").count() == 5
    # Past the breach before any warning went out: the breach says it, no late warning.
    assert Notification.objects.filter(kind="sla_warning").count() == 0
