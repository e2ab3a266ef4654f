"""A client id sent again (C8): the same message resent after a lost ack, or a client that
reused an id for another message. Only the first gets the original ack; the second is
refused (`client_id_reused`), or it would be told its new text was stored when it was not."""

from __future__ import annotations

from .models import Event

CLIENT_ID_REUSED = ("This client_id was already used for another message in this "
                    "conversation; nothing was stored. Give each message a new client_id.")


def same_message(stored: Event, *, kind: str, text: str, attachments: list[object]) -> bool:
    """Whether a resend (its kind, stripped text and attachment ids) is what was stored under
    its client id. Called only on a resend, so its one query (the attachments) costs nothing
    on the path of a new message."""
    if stored.kind != kind or stored.body != text:
        return False
    ids = set()
    for value in attachments:
        if not isinstance(value, int) or isinstance(value, bool):
            return False  # never an id stored with a message
        ids.add(value)
    return ids == set(stored.attachments.values_list("pk", flat=True))  # type: ignore[attr-defined]
