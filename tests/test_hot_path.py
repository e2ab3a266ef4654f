"""The hot path's hand-written SQL (conversations/hot_path.py) does what its ORM definition
does: on the same data, at the same instant, both store the same rows and return the same
objects. A change to one of them, or to the models they write, that the other does not
follow fails here, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.forms.models import model_to_dict

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.teamwork import do_claim
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.hot_path import (
    append_event,
    append_event_orm,
    locked_conversation,
    locked_conversation_orm,
    locked_current,
    locked_current_orm,
)
from plug2support.conversations.models import (
    Conversation,
    ConversationTag,
    Event,
    EventKind,
    OperatorGroup,
    Sender,
    Stage,
    Tag,
)
from plug2support.conversations.serializers import conversation_summary
from plug2support.widgets.models import Visitor

from .conftest import Tenant

NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
LATER = datetime(2026, 5, 4, 3, 7, 0, tzinfo=UTC)


def _conversation(tenant: Tenant, **values: Any) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    with time_machine.travel(NOW, tick=False):
        return Conversation.objects.create(company=tenant.company, widget=tenant.widget,
                                           visitor=visitor, last_seq=4, **values)


def _row(model: Any, pk: int, *leave_out: str) -> dict[str, Any]:
    values = model.objects.filter(pk=pk).values().get()
    return {key: value for key, value in values.items() if key not in {"id", *leave_out}}


def _in_memory(event: Event) -> dict[str, Any]:
    return {field.attname: getattr(event, field.attname)
            for field in Event._meta.concrete_fields if field.attname != "id"}


def _append_both(tenant: Tenant, conversation_values: dict[str, Any],
                 **arguments: Any) -> None:
    """Append with each function to its own copy of the conversation; compare."""
    results = []
    for append in (append_event, append_event_orm):
        conversation = _conversation(tenant, **conversation_values)
        with time_machine.travel(LATER, tick=False), transaction.atomic():
            event = append(conversation, **arguments)
        stored_event = _row(Event, event.pk, "conversation_id")
        assert _in_memory(event) == {**stored_event, "conversation_id": conversation.pk}
        stored = _row(Conversation, conversation.pk, "visitor_id")
        # What the caller's copy of the conversation learns equals what is stored.
        assert (conversation.last_seq, conversation.updated_at) == (
            stored["last_seq"], stored["updated_at"])
        results.append((stored_event, stored))
    assert results[0] == results[1]
    stored_event, stored = results[0]
    assert stored_event["seq"] == stored["last_seq"] == 5
    assert stored["updated_at"] == stored_event["created_at"] == LATER


def test_an_event_appended_by_hand_is_the_orms(acme: Tenant) -> None:
    _append_both(acme, {}, kind=EventKind.CLAIMED, sender=Sender.SYSTEM, author=acme.owner,
                 body="Acme Owner joined the conversation")


def test_a_team_only_event_appended_by_hand_is_the_orms(acme: Tenant) -> None:
    _append_both(acme, {"preview": "Hello"}, kind=EventKind.NOTE, sender=Sender.OPERATOR,
                 author=acme.operators[0], body="Check the refund", client_id="n1")


def test_a_visitors_message_appended_by_hand_is_the_orms(acme: Tenant) -> None:
    """With the preview, the e-mail flag and the waiting time set in the same statement:
    a first wait starts now, a running one keeps its start."""
    arguments: dict[str, Any] = {"kind": EventKind.MESSAGE, "sender": Sender.VISITOR,
                                 "body": "Anyone there?", "client_id": "m5",
                                 "visitor_message": ("Anyone there?", True)}
    _append_both(acme, {}, **arguments)
    _append_both(acme, {"waiting_since": NOW, "preview": "old"}, **arguments)


def _current_both(visitor: Visitor, client_id: str) -> tuple[Any, Any]:
    with transaction.atomic():
        by_hand = locked_current(visitor, client_id)
    with transaction.atomic():
        by_orm = locked_current_orm(visitor, client_id)
    return by_hand, by_orm


def _seen(found: tuple[Conversation | None, int | None]) -> dict[str, Any] | None:
    conversation, resent_id = found
    if conversation is None:
        assert resent_id is None
        return None
    return {
        "row": model_to_dict(conversation, fields=[
            f.name for f in Conversation._meta.concrete_fields]) | {"id": conversation.pk},
        "assignee": (conversation.assignee.pk, conversation.assignee.name,
                     conversation.assignee.email) if conversation.assignee else None,
        "group": (conversation.group.pk, conversation.group.name)
        if conversation.group else None,
        "tags": conversation.summary_tags,  # type: ignore[attr-defined]
        "visitor": conversation.visitor, "widget": conversation.widget,
        "resent_id": resent_id,
    }


def test_the_current_conversation_read_by_hand_is_the_orms(acme: Tenant) -> None:
    """Served, in a group, tagged (in the order tagged), with a stored message: the same
    conversation, people, tags and resend as the ORM reads them; a client id not stored
    finds no resend; an archived conversation is not current."""
    conversation = _conversation(acme, stage=Stage.NEEDS_RESPONSE, priority=2,
                                 preview="Hi", waiting_since=NOW)
    visitor = conversation.visitor
    group = OperatorGroup.objects.create(company=acme.company, name="Billing")
    group.members.add(acme.operators[0])
    Conversation.objects.filter(pk=conversation.pk).update(group=group)
    do_claim(acme.membership(acme.operators[0]), conversation)
    for name, value in (("VIP", ""), ("Order", "A-17")):
        tag = Tag.objects.create(company=acme.company, name=name, takes_value=bool(value))
        ConversationTag.objects.create(conversation=conversation, tag=tag, value=value)
    stored = Event.objects.create(conversation=conversation, seq=9, kind=EventKind.MESSAGE,
                                  sender=Sender.VISITOR, body="Hi", client_id="m1")
    older = _conversation(acme)
    Conversation.objects.filter(pk=older.pk).update(visitor=visitor, created_at=datetime(
        2026, 1, 1, tzinfo=UTC))

    by_hand, by_orm = _current_both(visitor, "m1")
    assert _seen(by_hand) == _seen(by_orm)
    seen = _seen(by_hand)
    assert seen is not None and seen["row"]["id"] == conversation.pk
    assert seen["resent_id"] == stored.pk
    assert [t["name"] for t in seen["tags"]] == ["VIP", "Order"]
    assert seen["assignee"][0] == acme.operators[0].pk and seen["group"] == (group.pk,
                                                                                "Billing")

    by_hand, by_orm = _current_both(visitor, "m2")
    assert _seen(by_hand) == _seen(by_orm)
    assert by_hand[1] is None

    Conversation.objects.filter(pk=conversation.pk).update(stage=Stage.ARCHIVED)
    by_hand, by_orm = _current_both(visitor, "m1")
    assert _seen(by_hand) == _seen(by_orm)
    assert by_hand[0] is not None and by_hand[0].pk == older.pk  # the one not archived

    Conversation.objects.filter(visitor=visitor).update(stage=Stage.ARCHIVED)
    assert _current_both(visitor, "m1") == ((None, None), (None, None))


def _locked_both(conversation_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    seen = []
    for read in (locked_conversation, locked_conversation_orm):
        with transaction.atomic():
            conversation = read(conversation_id)
        widget = conversation.widget
        row = _seen((conversation, None))
        assert row is not None
        seen.append(row | {
            "widget_row": model_to_dict(widget) | {"id": widget.pk},
            "company": model_to_dict(widget.company) | {"id": widget.company.pk},
            "visitor_row": model_to_dict(conversation.visitor) | {"id": conversation.visitor.pk},
            "summary": conversation_summary(conversation)})
    return seen[0], seen[1]


def test_a_conversation_locked_by_hand_is_the_orms(acme: Tenant) -> None:
    """A writer's locked read (every writer but the visitor's message): the same
    conversation, people, widget, company, visitor, tags and summary as the ORM's, served or
    not, in a group or not, snoozed or not; an unknown id is DoesNotExist."""
    conversation = _conversation(acme, stage=Stage.WAITING_ON_USER, preview="Hi",
                                 snoozed_until=LATER, snoozed_by=acme.owner)
    by_hand, by_orm = _locked_both(conversation.pk)
    assert by_hand == by_orm and by_hand["tags"] == [] and by_hand["assignee"] is None
    group = OperatorGroup.objects.create(company=acme.company, name="Billing")
    Conversation.objects.filter(pk=conversation.pk).update(group=group,
                                                           assignee=acme.operators[1])
    for name, value in (("VIP", ""), ("Order", "A-17")):
        tag = Tag.objects.create(company=acme.company, name=name, takes_value=bool(value))
        ConversationTag.objects.create(conversation=conversation, tag=tag, value=value)
    by_hand, by_orm = _locked_both(conversation.pk)
    assert by_hand == by_orm
    assert [t["name"] for t in by_hand["tags"]] == ["VIP", "Order"]
    assert by_hand["summary"]["served_by"] == {"id": acme.operators[1].pk, "name": "Acme Op1"}
    for read in (locked_conversation, locked_conversation_orm):
        with transaction.atomic(), pytest.raises(Conversation.DoesNotExist):
            read(conversation.pk + 1000)


def test_the_summary_a_visitors_message_publishes_names_who_serves(acme: Tenant) -> None:
    """The summary built from the hand-written read (the inbox row every visitor message
    updates) shows the serving operator's name, as the inbox's own list does: it once showed
    the operator's e-mail, the row's columns read in another order than selected."""
    visitor, _ = do_identify_visitor(acme.widget, None)
    first = do_post_visitor_message(visitor, client_id="m1", body="Hello")
    conversation = Conversation.objects.get(pk=first.event.conversation_id)
    do_claim(acme.membership(acme.operators[0]), conversation)
    posted = do_post_visitor_message(visitor, client_id="m2", body="Still there?")
    summary = conversation_summary(posted.event.conversation)
    assert summary["served_by"] == {"id": acme.operators[0].pk, "name": "Acme Op0"}
    assert summary["served_by"] == conversation_summary(
        Conversation.objects.select_related("assignee", "widget", "visitor", "group")
        .get(pk=conversation.pk))["served_by"]
