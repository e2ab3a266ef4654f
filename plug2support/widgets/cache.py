"""Widgets as the hot paths read them, cached per process: the configuration request of every
page view (widgets/fastpath.py: its rendered answer and allowed origins) and every widget
socket's hello (the widget and its business hours).

An entry is read once (one query, plus the hours when the widget has any) and kept for
WIDGET_CACHE_SECONDS; unknown keys are remembered for 5 s, so a flood of them costs no
queries. Saving a widget or its hours publishes its key on the `widgets` topic, and every
process drops the entry (`invalidator`), so a change is seen at once; the expiry is only a
safety net.

A hello gets its own copy of the widget: relations loaded through it later (its company,
say) are then never shared between sockets nor kept past one socket's life.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import render
from .hours import Schedule
from .models import Widget

WIDGET_CACHE_SECONDS = 30
UNKNOWN_KEY_SECONDS = 5
CACHE_MAX = 10_000
WIDGETS_TOPIC = "widgets"


@dataclass(frozen=True)
class Cached:
    widget: Widget
    schedule: Schedule
    body: bytes  # the configuration request's answer, and its ETag
    etag: str
    origins: tuple[str, ...]  # empty: any origin


# key → (entry or None for an unknown key, when it expires). Read and written from the event
# loop and from database threads: single dict operations, atomic under the GIL.
_entries: dict[str, tuple[Cached | None, float]] = {}
MISSING = object()


def peek(key: str) -> Cached | None | object:
    """The cached entry (None: an unknown key), or MISSING; no I/O, for the event loop."""
    found = _entries.get(key)
    if found is None or found[1] <= time.monotonic():
        return MISSING
    return found[0]


def get(key: str) -> Cached | None:
    """The entry for this key, read from the database on a miss. Runs in a sync context."""
    found = peek(key)
    if found is not MISSING:
        return found  # type: ignore[return-value]
    widget = Widget.objects.filter(key=key).first()
    entry = None
    if widget is not None:
        body, etag = render(widget)
        entry = Cached(widget, widget.schedule(), body, etag, tuple(widget.origin_list))
    if len(_entries) >= CACHE_MAX:
        _entries.clear()
    seconds = WIDGET_CACHE_SECONDS if entry else UNKNOWN_KEY_SECONDS
    _entries[key] = (entry, time.monotonic() + seconds)
    return entry


def widget_for_hello(key: str) -> tuple[Widget, Schedule] | None:
    """The widget with this key (a copy of its own) and its business hours, or None."""
    entry = get(key)
    return None if entry is None else (copy.copy(entry.widget), entry.schedule)


def schedule_of(widget_id: int) -> Schedule:
    """The widget's business hours as saved now, read past the cache (they just changed)."""
    return Widget.objects.get(pk=widget_id).schedule()


def forget(key: str) -> None:
    _entries.pop(key, None)


class _Invalidator:
    """Listens on the bus: a widget (or its hours) saved in any process is dropped here."""

    def deliver(self, topic: str, payload: Mapping[str, Any]) -> None:
        forget(str(payload.get("key", "")))

    def resumed(self) -> None:
        """The bus was away (Redis down): a widget saved meanwhile in another process went
        unheard here, so every entry goes."""
        _entries.clear()


invalidator = _Invalidator()
