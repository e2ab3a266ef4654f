"""Who hears that a conversation was resolved (K2).

Satisfaction (plug2support.satisfaction) sits above conversations (docs/architecture.md,
"Layers"): on each resolution it asks the visitor for a rating. Rather than import it from
below, the stage writer calls `resolved`, and the satisfaction app's AppConfig.ready()
registers its listener here (as conversations/channels.py does for mail). With nothing
registered a resolution simply asks nothing: unlike a reply, no customer waits for it.
"""

from __future__ import annotations

from collections.abc import Callable

from .models import Conversation, StageChange

# (the locked conversation, the StageChange into Resolved), in the mover's transaction.
ResolutionListener = Callable[[Conversation, StageChange], None]

_listeners: list[ResolutionListener] = []


def register_resolution_listener(listener: ResolutionListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def resolved(conversation: Conversation, change: StageChange) -> None:
    """Called by actions/stages.py after a move into Resolved is written and published:
    a listener's events come after the stage change's in the thread."""
    for listener in _listeners:
        listener(conversation, change)
