"""Widgets as every widget socket's hello reads them, cached per process.

Each hello needs its widget (by key) and the widget's business hours; both change rarely,
so they are read once per process and kept for WIDGET_CACHE_SECONDS. Saving a widget or
its hours drops the entry in every process through the real-time bus (the same message
that drops the configuration request's cache, widgets/fastpath.py), so a change is seen at
once; the expiry is only a safety net.

Callers get their own copy of the widget: relations loaded through it later (its company,
say) are then never shared between sockets nor kept past one socket's life.
"""

from __future__ import annotations

import copy
import time

from .hours import Schedule
from .models import Widget

WIDGET_CACHE_SECONDS = 30
CACHE_MAX = 10_000

# key → (widget or None for an unknown key, its schedule, when the entry expires). Read and
# written from the database thread and dropped from the event loop: single dict operations,
# atomic under the GIL.
_entries: dict[str, tuple[Widget | None, Schedule | None, float]] = {}


def widget_for_hello(key: str) -> tuple[Widget, Schedule] | None:
    """The widget with this key and its business hours, or None. Runs in a sync context."""
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is None or entry[2] <= now:
        widget = Widget.objects.filter(key=key).first()
        schedule = widget.schedule() if widget is not None else None
        if len(_entries) >= CACHE_MAX:
            _entries.clear()
        # Unknown keys are remembered briefly too, so a flood of them costs no queries.
        entry = (widget, schedule, now + (WIDGET_CACHE_SECONDS if widget else 5))
        _entries[key] = entry
    widget, schedule, _expires = entry
    if widget is None or schedule is None:
        return None
    return copy.copy(widget), schedule


def forget(key: str) -> None:
    _entries.pop(key, None)
