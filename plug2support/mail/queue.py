"""The inbound mail queue (F4): stored mail is its own queue. Every worker process runs a
drain thread that takes the oldest Queued row under a row lock (PostgreSQL skips rows
another worker holds; SQLite's IMMEDIATE transactions take turns), processes it and marks
it in the same transaction — one commit a message, and no task row to write, claim and
close for each (bench/README.md: that bookkeeping cost more than the processing itself).

A crash before the commit leaves the row Queued for the next drain; a row is processed once
however many workers run. Intake wakes the drain of its own process at once (the embedded
`run`, which has the gateway beside the worker); a worker in another process sees new mail
at its next poll, POLL_SECONDS later at most.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, transaction

from .models import InboundMail, InboundStatus
from .processing import process_locked

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
_wake = threading.Event()


def wake() -> None:
    """Called after a stored message commits."""
    _wake.set()


def process_next() -> bool:
    """Process the oldest Queued message; False when there is none (or all are taken)."""
    with transaction.atomic():
        mail = (InboundMail.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=InboundStatus.QUEUED).order_by("received_at", "pk")
                .select_related("address__widget__company").first())
        if mail is None:
            return False
        process_locked(mail)
    return True


def drain(limit: int | None = None) -> int:
    """Process Queued messages until none is left (or `limit`); how many were."""
    done = 0
    while (limit is None or done < limit) and process_next():
        done += 1
    return done


def run_forever(stop: threading.Event, poll: float = POLL_SECONDS) -> None:
    while not stop.is_set():
        try:
            drain()
        except Exception:  # noqa: BLE001 (the database away: keep the thread, try again)
            log.exception("the inbound mail drain failed; retrying")
            close_old_connections()
        # Idle: wait for intake's wake-up or the next poll (one indexed query), then give
        # the connection back as any idle worker does.
        _wake.wait(poll)
        _wake.clear()
        close_old_connections()


def start_drain(poll: float = POLL_SECONDS) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(stop, poll), name="mail-drain",
                     daemon=True).start()
    return stop
