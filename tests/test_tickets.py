"""Tickets and trackers (E1) and Hold dependencies (E2, D2): a conversation on Hold comes
back to Needs response by itself when what it waits for is done, and its owner is told."""

from __future__ import annotations

import pytest

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.tickets import (
    do_complete_review,
    do_hold,
    do_open_ticket,
    do_set_ticket_stage,
)
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Dependency, Ticket
from plug2support.notifications.models import Notification

from .conftest import Tenant, logged_in_client


def answered(tenant: Tenant) -> Conversation:
    """A conversation Alice serves and answered (Waiting on user)."""
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body="It crashes")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    do_post_operator_message(tenant.membership(tenant.operators[0]), conversation,
                             client_id="a", body="Looking into it")
    conversation.refresh_from_db()
    return conversation


def test_tickets_land_in_the_tracker_their_nature_calls_for(acme: Tenant) -> None:
    conversation = answered(acme)
    alice = acme.membership(acme.operators[0])
    plain = do_open_ticket(alice, conversation, title="Refund the order")
    code = do_open_ticket(alice, conversation, title="Fix crash",
                          needs_code_change=True)
    issue = do_open_ticket(alice, conversation, title="Export is slow", kind="issue")
    assert [plain.tracker, code.tracker, issue.tracker] == ["active", "product_assist",
                                                            "product_assist"]
    page = logged_in_client(acme.operators[0]).get("/tickets/?tracker=product_assist")
    text = page.content.decode()
    assert "Fix crash" in text and "Export is slow" in text and "Refund the order" not in text


def test_hold_comes_back_to_needs_response_when_the_ticket_closes(acme: Tenant) -> None:
    conversation = answered(acme)
    alice = acme.membership(acme.operators[0])
    ticket = do_open_ticket(alice, conversation, title="Fix crash",
                            needs_code_change=True)
    do_hold(alice, conversation, tickets=[ticket.pk], expected="waiting_on_user")
    conversation.refresh_from_db()
    assert conversation.stage == "hold"
    do_set_ticket_stage(alice, ticket, "in_progress")
    conversation.refresh_from_db()
    assert conversation.stage == "hold"
    do_set_ticket_stage(alice, ticket, "done")
    conversation.refresh_from_db()
    assert conversation.stage == "needs_response"
    note = Notification.objects.get(kind="hold_released")
    assert note.user == acme.operators[0]


def test_hold_waits_for_every_dependency_including_a_review(acme: Tenant) -> None:
    conversation = answered(acme)
    alice, bob = (acme.membership(u) for u in acme.operators)
    ticket = do_open_ticket(alice, conversation, title="Refund")
    do_hold(alice, conversation, tickets=[ticket.pk], reviewers=[bob.user_id])
    assert Notification.objects.filter(user=bob.user, kind="review").exists()
    do_set_ticket_stage(alice, ticket, "done")
    conversation.refresh_from_db()
    assert conversation.stage == "hold"  # Bob has not reviewed yet
    review = Dependency.objects.get(reviewer=bob.user)
    with pytest.raises(ConversationError) as error:
        do_complete_review(alice, review)  # only Bob can
    assert error.value.code == "not_yours"
    do_complete_review(bob, review)
    conversation.refresh_from_db()
    assert conversation.stage == "needs_response"


@pytest.mark.parametrize("kwargs,code", [
    ({}, "no_dependencies"), ({"tickets": "7"}, "no_dependencies"),
    ({"tickets": [999]}, "not_found"), ({"reviewers": [999]}, "not_found"),
    ({"tickets": [[1]]}, "not_found"), ({"reviewers": [True]}, "not_found"),
    ({"tickets": [{"id": 1}]}, "not_found"),
])
def test_bad_holds_are_refused_and_change_nothing(acme: Tenant, kwargs: dict[str, object],
                                                  code: str) -> None:
    conversation = answered(acme)
    with pytest.raises(ConversationError) as error:
        do_hold(acme.membership(acme.operators[0]), conversation, **kwargs)  # type: ignore[arg-type]
    assert error.value.code == code
    conversation.refresh_from_db()
    assert conversation.stage == "waiting_on_user" and not Dependency.objects.exists()


def test_hold_is_a_move_of_the_table(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body="Hi")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)  # New
    alice = acme.membership(acme.operators[0])
    ticket = do_open_ticket(alice, conversation, title="x")
    with pytest.raises(ConversationError) as error:
        do_hold(alice, conversation, tickets=[ticket.pk])
    assert error.value.code == "illegal_move" and not Dependency.objects.exists()


def test_another_companys_tickets_are_out_of_reach(acme: Tenant, globex: Tenant) -> None:
    theirs = do_open_ticket(globex.membership(globex.owner), answered(globex),
                            title="Globex secret")
    conversation = answered(acme)
    alice = acme.membership(acme.operators[0])
    with pytest.raises(ConversationError) as error:
        do_hold(alice, conversation, tickets=[theirs.pk])
    assert error.value.code == "not_found"
    client = logged_in_client(acme.operators[0])
    assert client.post(f"/tickets/{theirs.pk}/stage", {"stage": "done"}).status_code == 404
    assert Ticket.objects.get(pk=theirs.pk).stage == "open"
    assert "Globex secret" not in client.get("/tickets/?tracker=active").content.decode()
    with pytest.raises(ConversationError):
        do_open_ticket(alice, conversation, title="x", owner_id=globex.owner.pk)
