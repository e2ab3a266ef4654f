"""Bulk actions (M5): one action on many conversations of the inbox list, each row through
the same `do_*` as a single one — the stage table, claims, roles — so each is refused or
done on its own, and the answer says which and why.

Tenancy: the ids are read through the member's company (`access.conversations_for`); another
company's id is a row "not found", like any unknown one, and nothing of it is touched. The
rows are worked in chunks of CHUNK, one transaction each (a refused row rolls back alone: the
`do_*`'s own atomic block is a savepoint inside it), in id order so that two bulk actions
lock their rows in the same order; what each row publishes goes out when its chunk commits,
as a single action's does. bench/bulk_resolve.py measures 500 resolves (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from

from ..access import conversations_for
from ..models import Conversation, Stage
from .core import ConversationError
from .snooze import do_snooze
from .stages import do_move_stage
from .tags import do_tag, do_untag
from .teamwork import do_claim, do_reassign

BULK_MAX = 500
CHUNK = 100

Options = Mapping[str, Any]


def _assign(membership: Membership, conversation: Conversation, options: Options) -> None:
    """To oneself: a claim (C2: who serves stays first come); to someone else: a
    reassignment, which only owners and admins may make (do_reassign refuses the rest)."""
    to = options.get("to")
    if to == membership.user_id and (conversation.assignee_id is None
                                     or not membership.is_admin):
        do_claim(membership, conversation)
    else:
        do_reassign(membership, conversation, to)


def _tag(membership: Membership, conversation: Conversation, options: Options) -> None:
    do_tag(membership, conversation, options.get("tag"), options.get("value", ""))


def _untag(membership: Membership, conversation: Conversation, options: Options) -> None:
    do_untag(membership, conversation, options.get("tag"))


def _move(membership: Membership, conversation: Conversation, options: Options) -> None:
    do_move_stage(membership, conversation, options.get("to"))


def _resolve(membership: Membership, conversation: Conversation, options: Options) -> None:
    do_move_stage(membership, conversation, Stage.RESOLVED)


def _snooze(membership: Membership, conversation: Conversation, options: Options) -> None:
    do_snooze(membership, conversation, until=options.get("until"), preset=options.get("preset"))


ACTIONS: dict[str, Callable[[Membership, Conversation, Options], None]] = {
    "assign": _assign, "tag": _tag, "untag": _untag, "move": _move, "snooze": _snooze,
    "resolve": _resolve,
}


@dataclass
class BulkResult:
    changed: list[int] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"changed": len(self.changed), "changed_ids": self.changed,
                "refused": self.refused}


def check_bulk(ids: object, action: object) -> list[int]:
    """The ids (at most BULK_MAX, each a conversation id; repeats counted once) and the
    action's name. Refused whole: nothing is changed."""
    if not isinstance(action, str) or action not in ACTIONS:
        raise ConversationError("unknown_action", f"Unknown action; one of: {', '.join(ACTIONS)}.")
    if not isinstance(ids, list) or not ids:
        raise ConversationError("bad_ids", "ids must be a list of conversation ids.")
    # A list far past the bound is refused before anything is read from it.
    if len(ids) > BULK_MAX * 4:
        raise _too_many(len(ids))
    unique = list(dict.fromkeys(map(id_from, ids)))
    if None in unique:
        raise ConversationError("bad_ids", "ids must be a list of conversation ids.")
    if len(unique) > BULK_MAX:
        raise _too_many(len(unique))
    return [pk for pk in unique if pk is not None]


def _too_many(given: int) -> ConversationError:
    return ConversationError(
        "too_many", f"At most {BULK_MAX} conversations at once ({given} given); nothing was "
        "changed. Select fewer and try again.", limit=BULK_MAX)


def do_bulk(membership: Membership, ids: object, action: object,
            options: Options | None = None) -> BulkResult:
    """`action` on each of `ids` (the member's company's; others are "not found"), each as
    its single action; returns which changed and, for the others, the refusal's code and
    words."""
    wanted = check_bulk(ids, action)
    run = ACTIONS[str(action)]
    options = options or {}
    if action == "move" and options.get("to") not in Stage.values:
        # The same for every row: refused once, whole.
        raise ConversationError("unknown_stage",
                                f"Move to which stage? `to` is one of: {', '.join(Stage.values)}.")
    conversations = {c.pk: c for c in conversations_for(membership).filter(pk__in=wanted)}
    result = BulkResult()
    outcome: dict[int, dict[str, Any] | None] = {}
    ordered = sorted(conversations)
    for start in range(0, len(ordered), CHUNK):
        with transaction.atomic():
            for pk in ordered[start:start + CHUNK]:
                try:
                    run(membership, conversations[pk], options)
                    outcome[pk] = None
                except ConversationError as error:
                    outcome[pk] = {"id": pk, "code": error.code, "message": error.message}
    for pk in wanted:  # the answer in the order asked
        refusal = outcome[pk] if pk in conversations else {
            "id": pk, "code": "not_found", "message": "No such conversation."}
        if refusal is None:
            result.changed.append(pk)
        else:
            result.refused.append(refusal)
    return result
