"""Per-operator reading (M7): how far each operator has seen a conversation, and the
mentions of them that their seeing reads (M3). The summaries stay the same for every reader;
a console tells unread from the summary's `last_customer_seq` and its own read positions."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import member_topic

from ..inbox.counts import unread_mentions
from ..models import Conversation, Mention, ReadPosition
from .core import ConversationError


def check_seen(conversation: Conversation, seq: object) -> int:
    number = 0 if type(seq) is int and seq == 0 else id_from(seq)
    if number is None or number > conversation.last_seq:
        raise ConversationError("bad_seq", "seq must be a sequence number of this conversation.")
    return number


def do_mark_seen(membership: Membership, conversation: Conversation, seq: object) -> int:
    """The member's console showed the conversation up to `seq`: their read position moves
    there (never back), the mentions of them up to it are read, and their other consoles
    hear it (`seen` on their member topic). Returns the read position."""
    number = check_seen(conversation, seq)
    user_id, company_id = membership.user_id, membership.company_id
    with transaction.atomic():
        position, created = ReadPosition.objects.get_or_create(
            user_id=user_id, conversation_id=conversation.pk, defaults={"read_seq": number})
        moved = created or bool(ReadPosition.objects.filter(
            pk=position.pk, read_seq__lt=number).update(read_seq=number))
        read = Mention.objects.filter(user_id=user_id, conversation_id=conversation.pk,
                                      read_at__isnull=True, seq__lte=number).update(
            read_at=timezone.now())
        if moved or read:
            publish_after_commit(member_topic(company_id, user_id), {
                "type": "seen", "conversation": conversation.pk,
                "read_seq": max(number, position.read_seq),
                "mentions_unread": unread_mentions(company_id, user_id)})
    return max(number, position.read_seq)


def read_positions(user_id: int, conversation_ids: Iterable[int]) -> dict[int, int]:
    """The member's read positions of these conversations (one query); none: never opened."""
    return dict(ReadPosition.objects.filter(user_id=user_id,
                                            conversation_id__in=list(conversation_ids))
                .values_list("conversation_id", "read_seq"))
