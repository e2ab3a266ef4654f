"""Alerts by e-mail (C1, issue 18 point 8): each kind of event — a new conversation, an
assignment, a mention, a transfer request, a customer's reply — is e-mailed to the people who
chose it on the Alerts page while they are not online; the frequent two once a minute, one
e-mail a person; another company's people never."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core import mail
from django.utils import timezone

from plug2support.accounts.models import Membership, Status
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.teamwork import do_claim, do_reassign, do_request_transfer
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.alert_mail import email_alerts
from plug2support.conversations.models import Conversation
from plug2support.notifications.alerts import do_set_alert_preferences

from .conftest import Tenant


def _choose(tenant: Tenant, user: Any, *names: str) -> None:
    do_set_alert_preferences(tenant.membership(user), {name: "on" for name in names})


def _ask(tenant: Tenant, text: str, client_id: str = "c1") -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=client_id, body=text)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def _next_minute() -> Any:
    return timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)


def test_new_conversations_are_emailed_once_a_minute_to_who_chose_it_and_is_away(
        acme: Tenant, globex: Tenant) -> None:
    alice, bob = acme.operators
    _choose(acme, bob, "new_conversation.email")
    _choose(acme, alice, "new_conversation.email")
    _choose(globex, globex.operators[0], "new_conversation.email")
    Membership.objects.filter(pk=acme.membership(alice).pk).update(
        status=Status.ONLINE, last_seen_at=timezone.now())  # Alice has the console open
    first = _ask(acme, "Where is my order?", "a")
    second = _ask(acme, "Do you ship abroad?", "b")
    slot = _next_minute()
    assert email_alerts(slot) == {"emails": 1}
    [email] = mail.outbox
    assert email.to == [bob.email]  # not Alice (online), not Globex's (another company)
    assert "2 conversations wait for you" in email.subject
    assert f"/inbox/{first.pk}/" in email.body and f"/inbox/{second.pk}/" in email.body
    assert "Where is my order?" in email.body
    # The next minute has nothing new: nothing more.
    assert email_alerts(slot + timedelta(minutes=1)) == {"emails": 0}


def test_nobody_is_emailed_who_did_not_choose_it(acme: Tenant) -> None:
    _ask(acme, "Hello?")
    assert email_alerts(_next_minute()) == {"emails": 0}
    assert mail.outbox == []


def test_a_customers_reply_is_emailed_to_the_operator_serving_them(acme: Tenant) -> None:
    alice, bob = acme.operators
    _choose(acme, alice, "customer_reply.email")
    _choose(acme, bob, "customer_reply.email", "new_conversation.sound")
    conversation = _ask(acme, "First")
    do_claim(acme.membership(alice), conversation)
    visitor = conversation.visitor
    do_post_visitor_message(visitor, client_id="c2", body="Any news?")
    assert email_alerts(_next_minute()) == {"emails": 1}
    [email] = mail.outbox
    assert email.to == [alice.email]  # who serves it; Bob does not
    assert email.subject == "A customer replied: Any news?"


def test_an_assignment_and_a_transfer_request_are_emailed_at_once(
        acme: Tenant, django_capture_on_commit_callbacks: Any) -> None:
    owner = acme.owner
    alice, bob = acme.operators
    _choose(acme, bob, "assigned.email")
    _choose(acme, alice, "transfer_request.email")
    conversation = _ask(acme, "Help")
    with django_capture_on_commit_callbacks(execute=True):
        do_reassign(acme.membership(owner), conversation, bob.pk)
    [handed] = mail.outbox
    assert handed.to == [bob.email] and "handed you" in handed.subject
    assert f"/inbox/{conversation.pk}/" in handed.body
    other = _ask(acme, "More help", "c3")
    do_claim(acme.membership(alice), other)
    with django_capture_on_commit_callbacks(execute=True):
        do_request_transfer(acme.membership(bob), other)
    assert [m.to for m in mail.outbox] == [[bob.email], [alice.email]]
    assert "asks to take over" in mail.outbox[1].subject
    # Turned off: no e-mail (the console notification stays).
    _choose(acme, bob, "assigned.sound")
    third = _ask(acme, "Again", "c4")
    with django_capture_on_commit_callbacks(execute=True):
        do_reassign(acme.membership(owner), third, bob.pk)
    assert len(mail.outbox) == 2
