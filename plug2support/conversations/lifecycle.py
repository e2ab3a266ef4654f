"""Who hears of a conversation's start and of its stage changes (the service-target clocks,
K3, in plug2support.sla).

The SLA app sits above conversations (docs/architecture.md, "Layers"), so the writers here
cannot import it: they call `opened` and `stage_changed`, and the app's AppConfig.ready()
registers its listeners (as channels.py does for the e-mail sender). A customer's message
reaches the clocks through the stage move it causes (Waiting on user or Resolved → Needs
response): a message that moves nothing runs no statement of theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .models import Conversation

# (conversation, at) — a new conversation, inside its writer's transaction.
OpenListener = Callable[[Conversation, datetime], None]
# (conversation, from_stage, to_stage, at) — after the StageChange row, in the transaction.
StageListener = Callable[[Conversation, str, str, datetime], None]

_open_listeners: list[OpenListener] = []
_stage_listeners: list[StageListener] = []
# SQL of a subquery counting what would make a listener act on a new conversation of the
# company bound to its one %s (the SLA app: "has this company a policy"). A visitor's first
# message reads it within its one read (first_message.lock_and_read), so a company with no
# policy pays no statement for the listeners on its busiest path.
_open_probes: list[str] = []


def register(*, on_open: OpenListener | None = None,
             on_stage: StageListener | None = None, open_probe: str | None = None) -> None:
    if open_probe is not None and open_probe not in _open_probes:
        _open_probes.append(open_probe)
    if on_open is not None and on_open not in _open_listeners:
        _open_listeners.append(on_open)
    if on_stage is not None and on_stage not in _stage_listeners:
        _stage_listeners.append(on_stage)


def open_probes() -> tuple[str, ...]:
    return tuple(_open_probes)


def opened(conversation: Conversation, at: datetime) -> None:
    for listener in _open_listeners:
        listener(conversation, at)


def stage_changed(conversation: Conversation, from_stage: str, to_stage: str,
                  at: datetime) -> None:
    for listener in _stage_listeners:
        listener(conversation, from_stage, to_stage, at)
