"""The spam filter (D3): suspicious new conversations start in Suspended with the reason,
make no noise (no routing, no notification), and a reviewer releases a valid one to New."""

from __future__ import annotations

from typing import Any

import pytest

from plug2support.conversations.actions.messages import (
    do_leave_offline_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, EventKind, RoutingRule
from plug2support.notifications.models import Notification

from .conftest import Tenant


def first_message(tenant: Tenant, body: str, **extra: Any) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body=body, **extra)
    return Conversation.objects.get(pk=posted.event.conversation_id)


@pytest.mark.parametrize("body,extra,reason", [
    ("Cheap VIAGRA here", {}, "known spam wording"),
    ("https://a.example https://b.example https://c.example", {}, "made of links"),
    ("http://spam.example/offer", {}, "made of links"),
    ("Hello, I have a question", {"honeypot": "http://bot.example"}, "never see"),
])
def test_suspicious_new_conversations_start_suspended(acme: Tenant, body: str,
                                                      extra: dict[str, Any],
                                                      reason: str) -> None:
    conversation = first_message(acme, body, **extra)
    assert conversation.stage == "suspended"
    flagged = conversation.events.get(kind=EventKind.SUSPECTED)
    assert reason in flagged.body and flagged.staff_only


@pytest.mark.parametrize("body", ["Where is my order #1234?",
                                  "See https://shop.example/orders/1 — it never arrived"])
def test_ordinary_messages_start_new(acme: Tenant, body: str) -> None:
    assert first_message(acme, body).stage == "new"


def test_a_suspended_conversation_is_not_routed_nor_announced(acme: Tenant) -> None:
    RoutingRule.objects.create(company=acme.company, name="casino", keywords="casino",
                               target_user=acme.operators[0])
    visitor, _ = do_identify_visitor(acme.widget, None)
    do_leave_offline_message(visitor, client_id="o", email="bot@spam.example",
                             body="casino bonus for you")
    conversation = Conversation.objects.get()
    assert conversation.stage == "suspended" and conversation.assignee is None
    assert not Notification.objects.exists()


def test_too_many_new_conversations_from_one_visitor(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    owner = acme.membership(acme.owner)
    stages = []
    for i in range(7):
        posted = do_post_visitor_message(visitor, client_id=f"v{i}", body=f"hi {i}")
        conversation = Conversation.objects.get(pk=posted.event.conversation_id)
        stages.append(conversation.stage)
        if conversation.stage == "new":
            do_move_stage(owner, conversation, "archived")  # so the next one is new
    assert stages[:5] == ["new"] * 5 and stages[5] == "suspended"


def test_too_many_new_conversations_from_one_address(acme: Tenant) -> None:
    stages = [first_message(acme, f"question {i}", ip="203.0.113.9").stage for i in range(11)]
    assert stages.count("suspended") == 1 and stages[-1] == "suspended"


def test_a_reviewer_releases_a_valid_conversation_to_new(acme: Tenant) -> None:
    conversation = first_message(acme, "www.example.com")
    do_move_stage(acme.membership(acme.operators[0]), conversation, "new")
    conversation.refresh_from_db()
    assert conversation.stage == "new"
