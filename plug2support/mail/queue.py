"""The inbound mail queue (F4): stored mail is its own queue. Every worker process runs a
drain thread that takes the oldest Queued rows under row locks (PostgreSQL skips rows
another worker holds; SQLite's IMMEDIATE transactions take turns), processes them and marks
them in the same transaction — no task row to write, claim and close for each message
(bench/README.md: that bookkeeping cost more than the processing itself). A backlog goes
BATCH messages a transaction (each in its savepoint), so that a commit's wait for the disk
is shared; a lone message is its own batch, and a batch's frames leave when it commits.

A crash before the commit leaves the rows Queued for the next drain; a row is processed once
however many workers run. Intake wakes the drain of its own process at once (the embedded
`run`, which has the gateway beside the worker); a worker in another process sees new mail
at its next poll, POLL_SECONDS later at most.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections, transaction

from .models import InboundStatus
from .processing import locked_inbound, process_locked

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
# At most this many messages, and about this long, before a commit: the inbox frames of a
# backlog's messages wait that much more (well within F4's second).
BATCH, BATCH_SECONDS = 20, 0.1
_wake = threading.Event()


def wake() -> None:
    """Called after a stored message commits."""
    _wake.set()


def process_batch(limit: int = BATCH) -> int:
    """Process the oldest Queued messages, up to `limit` and about BATCH_SECONDS, in one
    transaction; how many (0 when there is none, or all are taken)."""
    started = time.monotonic()
    done = 0
    with transaction.atomic():
        mails = locked_inbound(InboundStatus.QUEUED).order_by("received_at", "pk")[:limit]
        for mail in mails:
            if done and time.monotonic() - started > BATCH_SECONDS:
                break  # the rest stay locked until the commit, then Queued for the next
            process_locked(mail)
            done += 1
    return done


def drain() -> int:
    """Process Queued messages until none is left; how many were."""
    done = 0
    while batch := process_batch():
        done += batch
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
