"""What a client is told of the conversations when its socket (re)connects or follows one: the
console's inbox snapshot and its subscribes' answers, the metrics a stage move answers with,
and the widget's welcome (docs/protocol.md). Reads only."""

from __future__ import annotations

from typing import Any

from plug2support.accounts.models import Membership
from plug2support.contacts.actions import contact_summary
from plug2support.lib.ids import id_from
from plug2support.notifications.actions import recent_for, unread_count
from plug2support.realtime.presence import availability_frame, availability_of
from plug2support.widgets.hours import Schedule

from .access import conversations_for, pending_transfers_for, work_for
from .actions.reading import read_positions
from .actions.visitors import current_conversation
from .metrics import for_conversation, for_conversations
from .models import Conversation
from .opening import Opened
from .serializers import conversation_summary, receipts, transfer_payload

INBOX_SNAPSHOT_SIZE = 100


def inbox_snapshot(membership: Membership) -> dict[str, Any]:
    """The console's `inbox` frame (without its type): the latest conversations, the pending
    transfers, the notifications and the unread count."""
    recent = list(conversations_for(membership).order_by("-updated_at")[:INBOX_SNAPSHOT_SIZE])
    user_id, company_id = membership.user_id, membership.company_id
    return {
        "conversations": [conversation_summary(c) for c in recent],
        # The member's read positions of these (M7): unread is last_customer_seq above.
        "read": {str(pk): seq for pk, seq in read_positions(user_id, [c.pk for c in recent])
                 .items()},
        "transfers": [transfer_payload(t) for t in pending_transfers_for(membership)],
        "notifications": recent_for(user_id, company_id),
        "unread": unread_count(user_id, company_id),
    }


def subscribed(membership: Membership,
               conversation_ids: list[object]) -> list[dict[str, Any] | None]:
    """The `subscribed` answers (without their refs) to subscribes naming these conversations,
    None for one the member may not see: for any number of them, five queries."""
    pks = [id_from(value) for value in conversation_ids]
    found = {c.pk: c for c in conversations_for(membership).filter(
        pk__in={pk for pk in pks if pk is not None})}
    metrics = for_conversations(found.values())
    work = work_for(list(found))
    return [None if pk not in found else {
        "conversation": conversation_summary(found[pk]), "metrics": metrics[pk].as_dict(),
        **work[pk]} for pk in pks]


def metrics_of(conversation: Conversation) -> dict[str, float | None]:
    """The conversation's metrics as a `moved` answer gives them."""
    return for_conversation(conversation).as_dict()


def welcome(opened: Opened, schedule: Schedule, may_read: bool) -> dict[str, Any]:
    """The widget's `welcome` frame for the visitor a hello opened (opening.do_open_for_hello):
    its current conversation only when this client may read it (N7)."""
    visitor = opened.visitor
    conversation = current_conversation(visitor) if may_read else None
    answer: dict[str, Any] = {
        "type": "welcome",
        "token": opened.token,
        "visitor": {"id": visitor.pk, "name": visitor.display_name,
                    "email": visitor.email or None},
        "conversation": None if conversation is None else {
            "id": conversation.pk,
            "stage": conversation.stage,
            "last_seq": conversation.last_seq,
            "receipts": receipts(conversation),
        },
        "availability": availability_frame(
            schedule, *availability_of(visitor.widget.company_id))["availability"],
        "contact": contact_summary(opened.contact) if opened.contact else None,
    }
    if opened.refused is not None:
        answer["identity_error"] = {"code": opened.refused.code,
                                    "message": opened.refused.message}
    return answer
