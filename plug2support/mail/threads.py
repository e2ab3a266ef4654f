"""Which conversation a customer's mail continues (F1), in this order: the conversation's
reply address (`reply+<id>-<signature>@…`, signed: addresses.py), then In-Reply-To and
References against the Message-IDs the product sent and received, then the subject tag
`[#<id>]` of the product's own subjects — that last only when the sender is the
conversation's customer, and never the subject's words alone (two customers' "Order
problem" are two conversations)."""

from __future__ import annotations

import re

from plug2support.conversations.models import Conversation

from . import addresses
from .ids import message_key
from .models import InboundMail, OutboundMail

_SUBJECT_TAG = re.compile(r"\[#(\d{1,18})\]")
REFERENCES_READ = 30


def subject_tag(conversation_id: int) -> str:
    return f"[#{conversation_id}]"


def _by_reply_address(company_id: int, candidates: list[str]) -> int | None:
    for address in candidates:
        if not addresses.is_reply_address(address):
            continue  # no query for the support address and the customer's Cc
        found = addresses.resolve(address)
        if (found is not None and found.conversation_id is not None
                and found.address.company_id == company_id):
            return found.conversation_id
    return None


def _by_message_ids(company_id: int, ids: list[str]) -> int | None:
    keys = [message_key(i, b"") for i in ids if i][-REFERENCES_READ:]
    if not keys:
        return None
    sent = (OutboundMail.objects.filter(company_id=company_id, message_key__in=keys)
            .order_by("-pk").values_list("conversation_id", flat=True).first())
    if sent is not None:
        return sent
    return (InboundMail.objects.filter(company_id=company_id, message_key__in=keys,
                                       conversation__isnull=False)
            .order_by("-pk").values_list("conversation_id", flat=True).first())


def _by_subject_tag(company_id: int, subject: str, sender: str) -> int | None:
    for match in _SUBJECT_TAG.finditer(subject):
        found = (Conversation.objects.filter(pk=int(match.group(1)), company_id=company_id,
                                             visitor__email=sender)
                 .values_list("pk", flat=True).first())
        if found is not None:
            return found
    return None


def find_conversation(company_id: int, *, recipients: list[str], in_reply_to: list[str],
                      references: list[str], subject: str, sender: str) -> int | None:
    return (_by_reply_address(company_id, recipients)
            or _by_message_ids(company_id, [*references, *in_reply_to])
            or _by_subject_tag(company_id, subject, sender))
