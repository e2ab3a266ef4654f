"""The view list's live counts on the operator sockets (M7, protocol.md §5 `counts`).

A company's conversations change in bursts (a wave of first messages, a bulk resolve), and
every change is a `conversation` summary on `company:<id>`. Counting per change, or per
conversation, would cost a query each; instead this process keeps its operator sockets by
company, and the first summary of a burst schedules one recount of that company
COALESCE_SECONDS later: one statement (inbox/counts.company_counts) whatever the number of
changes, conversations, views or people, then each socket is sent its person's counts,
computed in Python from those rows. Each process counts for its own sockets only (with
Redis, every process hears every summary)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from plug2support.conversations.inbox.counts import CountRows, company_counts

from ..dbthreads import db
from ..sockets import spawn

log = logging.getLogger(__name__)

# Long enough to gather a burst into one recount, short enough to read as live.
COALESCE_SECONDS = 0.2


class CountedSocket(Protocol):
    def send_counts(self, counted: CountRows) -> None: ...


class ViewCounts:
    """This process's operator sockets by company, and the recounts pending."""

    def __init__(self) -> None:
        self._sockets: dict[int, set[CountedSocket]] = {}
        self._pending: set[int] = set()
        self._latest: dict[int, CountRows] = {}
        self.recounts = 0  # statements run (tests: one per burst)

    def join(self, company_id: int, socket: CountedSocket, counted: CountRows) -> None:
        self._sockets.setdefault(company_id, set()).add(socket)
        self._latest.setdefault(company_id, counted)

    def leave(self, company_id: int, socket: CountedSocket) -> None:
        sockets = self._sockets.get(company_id)
        if sockets is None:
            return
        sockets.discard(socket)
        if not sockets:
            del self._sockets[company_id]
            self._latest.pop(company_id, None)

    def latest(self, company_id: int) -> CountRows | None:
        return self._latest.get(company_id)

    def changed(self, company_id: int) -> None:
        """A summary of the company went by: recount soon, once for the whole burst."""
        if company_id in self._pending or company_id not in self._sockets:
            return
        self._pending.add(company_id)
        asyncio.get_running_loop().call_later(
            COALESCE_SECONDS, lambda: spawn(self._recount(company_id)))

    async def _recount(self, company_id: int) -> None:
        # From here on a change schedules the next recount: none is lost between the
        # statement's snapshot and the frames.
        self._pending.discard(company_id)
        if company_id not in self._sockets:
            return
        try:
            self.recounts += 1
            counted = await db(company_counts)(company_id)
        except Exception as error:  # the database is away: the next change counts again
            log.warning("view counts for company %s failed: %s", company_id, error)
            return
        sockets = self._sockets.get(company_id)
        if not sockets:
            return
        self._latest[company_id] = counted
        for socket in list(sockets):
            socket.send_counts(counted)


VIEW_COUNTS = ViewCounts()
