"""Which company (and conversation) an address on the inbound domain is for (F1, F2).

A company's support address is `<local part>@INBOUND_EMAIL_DOMAIN`; the reply address of a
conversation is `reply+<id>-<signature>@INBOUND_EMAIL_DOMAIN`, the signature an HMAC of the
id with the server's key (lower-case hex: mail systems may change a local part's case), so
nobody can write into a conversation by guessing its number.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.text import slugify

from plug2support.conversations.models import Conversation

from .models import LOCAL_PART_MAX, SupportAddress

_REPLY = re.compile(r"^reply\+(\d{1,18})-([0-9a-f]{20})$")
_SALT = "plug2support.mail.reply-address"


def _signature(conversation_id: int) -> str:
    return salted_hmac(_SALT, str(conversation_id), algorithm="sha256").hexdigest()[:20]


def reply_address(conversation_id: int) -> str:
    return f"reply+{conversation_id}-{_signature(conversation_id)}@{settings.INBOUND_EMAIL_DOMAIN}"


def split(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().strip("<>").rpartition("@")
    return local.lower(), domain.lower().rstrip(".")


def is_inbound_domain(address: str) -> bool:
    return split(address)[1] == settings.INBOUND_EMAIL_DOMAIN


@dataclass(frozen=True)
class Recipient:
    address: SupportAddress
    conversation_id: int | None  # set for a valid reply+ address


def resolve(address: str) -> Recipient | None:
    """The support address (and conversation) mail to `address` is for; None when it is no
    company's (SMTP answers 550)."""
    local, domain = split(address)
    if domain != settings.INBOUND_EMAIL_DOMAIN or not local:
        return None
    reply = _REPLY.match(local)
    if reply is not None:
        conversation_id = int(reply.group(1))
        if not constant_time_compare(reply.group(2), _signature(conversation_id)):
            return None
        conversation = (Conversation.objects.filter(pk=conversation_id)
                        .values_list("company_id", "widget_id").first())
        if conversation is None:
            return None
        company_id, widget_id = conversation
        support = (SupportAddress.objects.filter(company_id=company_id)
                   .order_by("-is_default", "pk").first())
        if support is None:
            return None
        return Recipient(support, conversation_id)
    support = SupportAddress.objects.filter(local_part=local).first()
    return None if support is None else Recipient(support, None)


def new_local_part(company_name: str) -> str:
    """A readable, unguessable-enough local part: the company's name and four random hex."""
    stem = slugify(company_name)[:24].strip("-") or "support"
    while True:
        local = f"{stem}-{secrets.token_hex(2)}"[:LOCAL_PART_MAX]
        if not SupportAddress.objects.filter(local_part=local).exists():
            return local
