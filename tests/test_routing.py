"""Routing (D8): whole-word keywords in the first message send a new conversation to an
operator or a group; without a match, the pool. Rules are tested before saving; bad rules and
another company's people are refused."""

from __future__ import annotations

from typing import Any

import pytest

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.teamwork import do_claim
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, EventKind, OperatorGroup, RoutingRule
from plug2support.conversations.routing import check_keywords, first_match
from plug2support.notifications.models import Notification

from .conftest import Tenant, logged_in_client


def rule(tenant: Tenant, keywords: str, **target: Any) -> RoutingRule:
    return RoutingRule.objects.create(company=tenant.company, name=keywords.split()[0],
                                      keywords=keywords, **target)


def new(tenant: Tenant, body: str) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body=body)
    return Conversation.objects.get(pk=posted.event.conversation_id)


@pytest.mark.parametrize("text,hit", [
    ("I need a REFUND please", True), ("refund.", True), ("(refund)", True),
    ("refunded yesterday", False), ("nonrefund", False), ("billing   question here", True),
    ("billing-question", False), ("", False),
])
def test_keywords_match_whole_words_in_any_case(acme: Tenant, text: str, hit: bool) -> None:
    r = rule(acme, "refund\nbilling question", target_user=acme.operators[0])
    assert (first_match([r], text) is r) == hit


def test_a_matching_conversation_goes_to_the_rules_operator(acme: Tenant) -> None:
    alice = acme.operators[0]
    rule(acme, "refund", target_user=alice)
    conversation = new(acme, "Can I get a refund?")
    assert conversation.assignee == alice
    routed = conversation.events.get(kind=EventKind.ROUTED)
    assert routed.staff_only
    assert routed.body == f"Routed to {alice.name} (rule: refund)"
    assert Notification.objects.filter(user=alice, kind="routed").count() == 1
    # Only the first message routes.
    do_post_visitor_message(conversation.visitor, client_id="v2", body="refund again")
    assert conversation.events.filter(kind=EventKind.ROUTED).count() == 1


def test_a_group_rule_lets_only_its_members_claim(acme: Tenant) -> None:
    alice, bob = acme.operators
    billing = OperatorGroup.objects.create(company=acme.company, name="Billing")
    billing.members.set([bob])
    rule(acme, "invoice", target_group=billing)
    conversation = new(acme, "Where is my invoice?")
    assert conversation.group == billing and conversation.assignee is None
    with pytest.raises(ConversationError) as error:
        do_claim(acme.membership(alice), conversation)
    assert error.value.code == "routed_to_group"
    do_claim(acme.membership(bob), conversation)
    conversation.refresh_from_db()
    assert conversation.assignee == bob


def test_no_match_goes_to_the_pool(acme: Tenant) -> None:
    rule(acme, "refund", target_user=acme.operators[0])
    conversation = new(acme, "Just saying hi")
    assert conversation.assignee is None and conversation.group is None


def test_rules_of_another_company_do_not_apply(acme: Tenant, globex: Tenant) -> None:
    rule(globex, "refund", target_user=globex.operators[0])
    assert new(acme, "refund please").assignee is None


@pytest.mark.parametrize("raw,message", [
    ("", "at least one keyword"), ("  \n \n", "at least one keyword"),
    ("\n".join(f"k{i}" for i in range(51)), "At most 50"), ("x" * 61, "at most 60"),
    ("!!!", "letters or digits"),
])
def test_empty_or_absurd_keyword_lists_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_keywords(raw)


def test_the_settings_page_tests_a_rule_before_saving_it(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    alice = acme.operators[0]
    data = {"name": "Refunds", "keywords": "refund", "target": f"u:{alice.pk}",
            "sample": "I want a refund", "test": "1"}
    page = owner.post("/settings/routing/", data).content.decode()
    assert "would go to <strong>" in page and alice.name in page
    assert not RoutingRule.objects.exists()  # testing saves nothing
    no_match = owner.post("/settings/routing/", {**data, "sample": "hello"}).content.decode()
    assert "matches no rule" in no_match
    owner.post("/settings/routing/", {**data, "test": "", "save_rule": "1"})
    assert RoutingRule.objects.get().target_user == alice


def test_bad_rules_are_refused_in_the_form(acme: Tenant, globex: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    for data, message in (
        ({"name": "x", "keywords": "", "target": f"u:{acme.operators[0].pk}"}, "required"),
        ({"name": "x", "keywords": "a", "target": f"u:{globex.operators[0].pk}"},
         "Select a valid choice"),
    ):
        page = owner.post("/settings/routing/", {**data, "save_rule": "1"}).content.decode()
        assert message in page
    assert not RoutingRule.objects.exists()


def test_only_admins_see_routing_and_only_their_own(acme: Tenant, globex: Tenant) -> None:
    theirs = rule(globex, "secret", target_user=globex.operators[0])
    assert logged_in_client(acme.operators[0]).get("/settings/routing/").status_code == 403
    page = logged_in_client(acme.owner).get("/settings/routing/").content.decode()
    assert "secret" not in page
    gone = logged_in_client(acme.owner).post(f"/settings/routing/{theirs.pk}/delete")
    assert gone.status_code == 404 and RoutingRule.objects.filter(pk=theirs.pk).exists()
