"""How the team's replies leave by another channel than the chat (F2, F6).

The e-mail channel (plug2support.mail) sits above conversations (docs/architecture.md,
"Layers"): it calls this layer's writers, and this layer must still hand it each reply of
the team's that goes out by e-mail. Rather than import it from below, the writers call
`send_reply`, and the mail app's AppConfig.ready() registers its sender here. A process
where nothing registered refuses loudly rather than drop a reply the customer waits for.
"""

from __future__ import annotations

from collections.abc import Callable

from .models import Conversation, Event

# (conversation, event, *, cc, subject)
ReplySender = Callable[..., object]

_reply_sender: ReplySender | None = None


def register_reply_sender(sender: ReplySender) -> None:
    global _reply_sender
    _reply_sender = sender


def send_reply(conversation: Conversation, event: Event, *, cc: list[str] | None = None,
               subject: str = "") -> None:
    """Queue the operator's message `event` for the customer's inbox (inside the writer's
    transaction: nothing leaves if it rolls back), copied to `cc`, under `subject` when the
    conversation has none yet."""
    if _reply_sender is None:
        raise RuntimeError("No e-mail reply sender registered: is plug2support.mail in "
                           "INSTALLED_APPS?")
    _reply_sender(conversation, event, cc=cc or [], subject=subject)
