"""Periodic jobs: what runs when, run exactly once per slot by any number of workers.

Every worker process (`manage.py worker`, and the embedded `run`) calls `tick()` every
TICK_SECONDS. For each job it lists the slots due since the job's last recorded slot (so a
worker that was down catches up, at most CATCH_UP back; a job never run before starts at its
latest due slot), claims each slot by inserting its PeriodicRun row — the unique constraint
lets one worker win — and runs the job for that slot, oldest first. A claim left unfinished
for LEASE (its worker died) is taken over by a conditional UPDATE. Jobs are written to be
idempotent for their slot, so a takeover or a manual re-run changes nothing twice; the daily
subscription update also refuses a day older than the newest one applied (billing/daily.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from plug2support.billing.invoices import invoice_day_slots

from .models import PeriodicRun

log = logging.getLogger(__name__)

TICK_SECONDS = 30
LEASE = timedelta(minutes=15)
CATCH_UP = timedelta(days=31)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def daily_at(at: time) -> Callable[[datetime, datetime], list[datetime]]:
    """Slots at `at` (UTC) every day, in (after, until]."""
    def slots(after: datetime, until: datetime) -> list[datetime]:
        day = after.astimezone(UTC).date()
        found: list[datetime] = []
        while True:
            slot = datetime.combine(day, at, UTC)
            if slot > until:
                return found
            if slot > after:
                found.append(slot)
            day += timedelta(days=1)
    return slots


def hourly(after: datetime, until: datetime) -> list[datetime]:
    slot = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    found: list[datetime] = []
    while slot <= until:
        found.append(slot)
        slot += timedelta(hours=1)
    return found


def every_minute(after: datetime, until: datetime) -> list[datetime]:
    """The latest whole minute in (after, until], alone: a poll that missed minutes (the
    workers were down) has nothing to catch up, one run covers them all."""
    slot = until.astimezone(UTC).replace(second=0, microsecond=0)
    return [slot] if slot > after else []


def _invoice_day_slots(after: datetime, until: datetime) -> list[datetime]:
    return invoice_day_slots(after, until)


@dataclass(frozen=True)
class Job:
    name: str
    slots: Callable[[datetime, datetime], list[datetime]]
    run: str  # dotted path of a callable taking the slot, returning a JSON-able summary
    # Finished runs older than this are deleted after each run (a job every minute would
    # otherwise add half a million rows a year); None keeps them all.
    keep: timedelta | None = None


JOBS: list[Job] = [
    # H4: the subscription update, at 02:00 UTC for every company at once.
    Job("billing.daily_update", daily_at(time(2, 0)),
        "plug2support.billing.daily.run_daily_update"),
    # H9: on the 20th, invoices for the coming renewals; every hour, deliveries retried.
    Job("billing.invoice_day", _invoice_day_slots,
        "plug2support.billing.invoices.run_invoice_day"),
    Job("billing.deliver_invoices", hourly, "plug2support.billing.invoices.run_deliveries"),
    # Uploads never attached to a message (attachments/actions.py).
    Job("attachments.delete_unattached", hourly,
        "plug2support.attachments.actions.delete_unattached_for_slot"),
    # F4: connected mailboxes fetched (each when its back-off allows, mail/imap.py).
    Job("mail.poll_mailboxes", every_minute, "plug2support.mail.imap.poll_mailboxes",
        keep=timedelta(days=1)),
    # Mail kept while its company was blocked (H6), once the block lifts; raw mail past its
    # retention (F5, docs/email.md).
    Job("mail.release_held", every_minute, "plug2support.mail.processing.release_held",
        keep=timedelta(days=1)),
    Job("mail.forget_raw", daily_at(time(3, 30)), "plug2support.mail.processing.forget_raw"),
    # M4: snoozed conversations whose time has come (each woken once: a conditional UPDATE).
    Job("conversations.wake_snoozed", every_minute,
        "plug2support.conversations.actions.snooze.wake_due", keep=timedelta(days=1)),
    # C1: the minute's new conversations and customer replies e-mailed to those who asked
    # and are away (conversations/alert_mail.py).
    Job("conversations.email_alerts", every_minute,
        "plug2support.conversations.alert_mail.email_alerts", keep=timedelta(days=1)),
    # K3: service-target breaches recorded at their due time, warnings sent (sla/due.py).
    Job("sla.check_due", every_minute, "plug2support.sla.due.check_due",
        keep=timedelta(days=1)),
]


def due_slots(job: Job, now: datetime) -> list[datetime]:
    last = (PeriodicRun.objects.filter(job=job.name).order_by("-slot")
            .values_list("slot", flat=True).first())
    if last is None:
        # Never run here: start at the latest due slot, not a month of history.
        recent = job.slots(now - CATCH_UP, now)
        return recent[-1:]
    return job.slots(max(last, now - CATCH_UP), now)


def claim(job: Job, slot: datetime, now: datetime, worker: str = WORKER_ID) -> bool:
    try:
        with transaction.atomic():
            PeriodicRun.objects.create(job=job.name, slot=slot, claimed_by=worker,
                                       claimed_at=now)
        return True
    except IntegrityError:
        # Someone has it: ours only if they left it unfinished for longer than the lease.
        return PeriodicRun.objects.filter(
            job=job.name, slot=slot, finished_at__isnull=True, claimed_at__lt=now - LEASE,
        ).update(claimed_by=worker, claimed_at=now) == 1


def run_slot(job: Job, slot: datetime) -> dict[str, Any]:
    result = import_string(job.run)(slot) or {}
    PeriodicRun.objects.filter(job=job.name, slot=slot).update(
        finished_at=timezone.now(), result=result)
    if job.keep is not None:
        # Finished ones only, and never the latest: due_slots starts from it.
        PeriodicRun.objects.filter(job=job.name, slot__lt=slot - job.keep,
                                   finished_at__isnull=False).delete()
    return result  # type: ignore[no-any-return]


def tick(now: datetime | None = None, worker: str = WORKER_ID,
         jobs: list[Job] | None = None) -> list[tuple[str, datetime]]:
    """Run every job's due slots that this worker claims; returns what it ran."""
    now = now or timezone.now()
    ran = []
    for job in jobs or JOBS:
        stale = list(PeriodicRun.objects.filter(
            job=job.name, finished_at__isnull=True, claimed_at__lt=now - LEASE,
        ).values_list("slot", flat=True))
        for slot in sorted({*stale, *due_slots(job, now)}):
            if not claim(job, slot, now, worker):
                continue
            try:
                run_slot(job, slot)
            except Exception:  # noqa: BLE001 (one job's failure must not stop the others)
                log.exception("periodic job %s for %s failed; retried after the lease",
                              job.name, slot)
                continue
            ran.append((job.name, slot))
    return ran


def run_forever(stop: threading.Event, interval: float = TICK_SECONDS) -> None:
    """The scheduler loop of a worker process, until `stop` is set."""
    while not stop.is_set():
        try:
            tick()
        except Exception:  # noqa: BLE001 (the database may be briefly away; try again)
            log.exception("periodic tick failed")
        finally:
            close_old_connections()
        stop.wait(interval)


def start_scheduler(interval: float = TICK_SECONDS) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(stop, interval), name="scheduler",
                     daemon=True).start()
    return stop
