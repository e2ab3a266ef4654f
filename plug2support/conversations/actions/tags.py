"""Tags (D7): the company's tags, built-in ones included, and tagging conversations."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from plug2support.accounts.models import Membership
from plug2support.lib.ids import is_id
from plug2support.lib.text import has_controls

from ..hot_path import append_event
from ..models import (
    BUILT_IN_TAGS,
    VALUE_TAGS,
    Conversation,
    ConversationTag,
    Event,
    EventKind,
    Sender,
    Tag,
)
from ..people import display_name
from .core import ConversationError, lock_conversation, publish

TAG_NAME_MAX = 50
TAG_VALUE_MAX = 100


def ensure_built_in_tags(company_id: int) -> None:
    # A read on every call; the (write-locking) insert only for a company that lacks them.
    if Tag.objects.filter(company_id=company_id, built_in=True).count() == len(BUILT_IN_TAGS):
        return
    Tag.objects.bulk_create(
        [Tag(company_id=company_id, name=name, built_in=True, takes_value=name in VALUE_TAGS)
         for name in BUILT_IN_TAGS], ignore_conflicts=True)


def tags_for(company_id: int) -> list[Tag]:
    ensure_built_in_tags(company_id)
    return list(Tag.objects.filter(company_id=company_id))


def do_create_tag(membership: Membership, name: object) -> Tag:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > TAG_NAME_MAX:
        raise ConversationError("invalid_tag", f"A tag name is 1 to {TAG_NAME_MAX} characters.")
    if has_controls(name):
        raise ConversationError("invalid_tag", "A tag name holds no control characters.")
    name = " ".join(name.split())
    ensure_built_in_tags(membership.company_id)
    if Tag.objects.filter(company_id=membership.company_id, name__iexact=name).exists():
        raise ConversationError("tag_exists", f"The tag {name!r} already exists.")
    try:
        with transaction.atomic():
            return Tag.objects.create(company_id=membership.company_id, name=name)
    except IntegrityError:
        raise ConversationError("tag_exists", f"The tag {name!r} already exists.") from None


def _company_tag(membership: Membership, tag_id: object) -> Tag:
    if not is_id(tag_id):
        raise ConversationError("not_found", "No such tag in this company.")
    ensure_built_in_tags(membership.company_id)
    tag = Tag.objects.filter(pk=tag_id, company_id=membership.company_id).first()
    if tag is None:
        raise ConversationError("not_found", "No such tag in this company.")
    return tag


def do_tag(membership: Membership, conversation: Conversation, tag_id: object,
           value: object = "") -> Event:
    tag = _company_tag(membership, tag_id)
    text = value.strip() if isinstance(value, str) else ""
    if tag.takes_value and not text:
        raise ConversationError("value_required", f"{tag.name} needs a value, e.g. "
                                f"\"{tag.name}: refunded\".")
    if len(text) > TAG_VALUE_MAX:
        raise ConversationError("invalid_tag", f"A tag value is at most {TAG_VALUE_MAX} "
                                "characters.")
    if has_controls(text):
        raise ConversationError("invalid_tag", "A tag value holds no control characters.")
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        ConversationTag.objects.update_or_create(
            conversation=locked, tag=tag,
            defaults={"value": text if tag.takes_value else "", "added_by": membership.user})
        # The locked row carried the tags as they were: the summary reads them again.
        locked.summary_tags = None  # type: ignore[attr-defined]
        label = f"{tag.name}: {text}" if tag.takes_value else tag.name
        event = append_event(locked, kind=EventKind.TAGGED, sender=Sender.SYSTEM,
                             author=membership.user,
                             body=f"{display_name(membership.user)} tagged it {label}")
        publish(locked, event)
    return event


def do_untag(membership: Membership, conversation: Conversation, tag_id: object) -> Event:
    tag = _company_tag(membership, tag_id)
    with transaction.atomic():
        locked = lock_conversation(conversation.pk)
        if not ConversationTag.objects.filter(conversation=locked, tag=tag).delete()[0]:
            raise ConversationError("not_tagged", f"It is not tagged {tag.name}.")
        # The locked row carried the tags as they were: the summary reads them again.
        locked.summary_tags = None  # type: ignore[attr-defined]
        event = append_event(locked, kind=EventKind.UNTAGGED, sender=Sender.SYSTEM,
                             author=membership.user,
                             body=f"{display_name(membership.user)} removed the tag {tag.name}")
        publish(locked, event)
    return event
