"""From a stored message to the inbox (F1–F3, F5): the worker parses it, drops automatic
mail, records bounces, and threads the rest into a conversation."""

from __future__ import annotations

from django_tasks import task


@task()
def process_inbound(inbound_id: int) -> None:
    """Work in progress (issue 17): parsed and threaded in the next commits."""
