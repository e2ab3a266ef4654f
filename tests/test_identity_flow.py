"""Identity and customers in the conversation flow (B6, D8, D9): the widget's identify frame,
the offline form's unverified claim, routing to the customer org's default owner, and the
priority of existing customers over new or unidentified ones."""

from __future__ import annotations

from plug2support.contacts.actions import contact_of
from plug2support.contacts.identity import expected_hash
from plug2support.contacts.models import Contact, CustomerOrg
from plug2support.conversations.actions.messages import (
    do_leave_offline_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Priority

from .conftest import Tenant, make_tenant, open_visitor


def test_identify_over_the_socket(live: str) -> None:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    visitor, welcome = open_visitor(live, acme.widget)
    good = expected_hash(acme.widget.secret, "user-42")
    for frame, code in (
        ({"user_id": "user-42", "user_hash": "0" * 64}, "wrong_hash"),
        ({"user_id": "user-42", "user_hash": ""}, "malformed_hash"),
        ({"user_id": "user-42"}, "malformed_hash"),
        ({"user_hash": good}, "missing_user_id"),
        ({"user_id": "user-42", "user_hash": expected_hash(globex.widget.secret, "user-42")},
         "wrong_hash"),
    ):
        reply = visitor.request({"type": "identify", **frame})
        assert reply["code"] == code, frame
    assert not Contact.objects.exists()
    ok = visitor.request({"type": "identify", "user_id": "user-42", "user_hash": good,
                          "email": "jane@acme-customer.example", "name": "Jane"})
    assert ok["type"] == "identified" and ok["contact"]["verified"] is True
    contact = Contact.objects.get()
    assert (contact.external_id, contact.email, contact.company) == (
        "user-42", "jane@acme-customer.example", acme.company)


def test_an_offline_message_makes_an_unverified_contact(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    do_leave_offline_message(visitor, client_id="o", email="sam@example.org",
                             body="Call me")
    contact = contact_of(visitor)
    assert contact is not None and not contact.verified and contact.email == "sam@example.org"


def test_an_existing_customer_goes_to_their_orgs_owner_with_normal_priority(
        acme: Tenant) -> None:
    bob = acme.operators[1]
    CustomerOrg.objects.create(company=acme.company, name="Big Co", domain="bigco.example",
                               default_owner=bob)
    visitor, _ = do_identify_visitor(acme.widget, None)
    do_leave_offline_message(visitor, client_id="o", email="ann@bigco.example",
                             body="Our invoices are wrong")
    conversation = Conversation.objects.get()
    assert conversation.assignee == bob
    assert conversation.priority == Priority.NORMAL
    assert "the customer org's owner" in conversation.events.get(kind="routed").body


def test_an_unknown_visitor_gets_low_priority_and_the_pool(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body="Hello")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    assert conversation.priority == Priority.LOW and conversation.assignee is None
