"""M3 (issue 18 point 3): a note's `mentions` notify the teammates named, live, with a link
to the note, by e-mail when they are not online and want it; a Mentions view lists them."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.mentions import check_mentions
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.reading import do_mark_seen
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.inbox.counts import unread_mentions
from plug2support.conversations.mentioned import mentioned_list
from plug2support.conversations.models import Conversation, Mention
from plug2support.notifications.alerts import do_set_alert_preferences, preferences_of
from plug2support.notifications.models import Notification

from .conftest import Tenant, logged_in_client, open_operator, open_visitor


def _conversation(tenant: Tenant, text: str = "Hello") -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=f"c-{text}", body=text)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def test_a_mention_notifies_the_teammate_with_a_link_to_the_note(
        acme: Tenant, globex: Tenant, django_capture_on_commit_callbacks: Any) -> None:
    alice, bob = acme.operators
    conversation = _conversation(acme)
    with django_capture_on_commit_callbacks(execute=True):
        posted = do_add_note(acme.membership(alice), conversation, client_id="n1",
                             body="@Bob can you look?",
                             mentions=[bob.pk, globex.operators[0].pk, alice.pk, "x", -1])
    [mention] = Mention.objects.all()  # Globex's person, Alice herself and junk: not mentions
    assert (mention.user, mention.seq, mention.company) == (bob, posted.event.seq, acme.company)
    [notification] = Notification.objects.all()
    assert notification.user == bob and notification.kind == "mention"
    assert notification.url == f"/inbox/{conversation.pk}/#seq-{posted.event.seq}"
    # Bob is not online (no console open): he is e-mailed, with the same link.
    [email] = mail.outbox
    assert email.to == [bob.email] and f"#seq-{posted.event.seq}" in email.body
    assert unread_mentions(acme.company.pk, bob.pk) == 1
    assert unread_mentions(globex.company.pk, globex.operators[0].pk) == 0


def test_no_email_for_a_mention_when_the_teammate_turned_it_off(
        acme: Tenant, django_capture_on_commit_callbacks: Any) -> None:
    alice, bob = acme.operators
    do_set_alert_preferences(acme.membership(bob), {"mention.sound": "on"})
    assert preferences_of(acme.membership(bob).pk)["mention"] == {
        "sound": True, "desktop": False, "email": False, "push": False}
    with django_capture_on_commit_callbacks(execute=True):
        do_add_note(acme.membership(alice), _conversation(acme), client_id="n1", body="@Bob",
                    mentions=[bob.pk])
    assert Notification.objects.filter(user=bob).count() == 1 and mail.outbox == []


def test_the_mentions_view_lists_newest_first_with_the_unread_marked(acme: Tenant) -> None:
    alice, bob = acme.operators
    older, newer = _conversation(acme, "older"), _conversation(acme, "newer")
    do_add_note(acme.membership(alice), older, client_id="n1", body="@Bob", mentions=[bob.pk])
    note = do_add_note(acme.membership(alice), newer, client_id="n2", body="@Bob",
                       mentions=[bob.pk])
    do_mark_seen(acme.membership(bob), Conversation.objects.get(pk=newer.pk), note.event.seq)
    listed = mentioned_list(acme.membership(bob))
    assert listed["order"] == [newer.pk, older.pk]
    assert listed["unread_mentions"] == [older.pk]
    assert mentioned_list(acme.membership(alice))["order"] == []
    page = logged_in_client(bob).get("/inbox/list?view=mentions").json()
    assert [c["id"] for c in page["conversations"]] == [newer.pk, older.pk]
    assert page["read"] == {str(newer.pk): note.event.seq}


def test_mentions_must_be_a_short_list(acme: Tenant) -> None:
    for bad in ("1", {"id": 1}, list(range(51))):
        with pytest.raises(ConversationError) as refused:
            check_mentions(acme.membership(acme.operators[0]), bad)
        assert refused.value.code == "bad_mentions"


# Read-only over the fixture's rows: the same tenant suits every example.
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans()),
                max_size=10))
def test_any_list_gives_only_teammates(acme: Tenant, values: list[Any]) -> None:
    teammates = {m.user_id for m in acme.company.memberships.all()} - {acme.operators[0].pk}
    assert set(check_mentions(acme.membership(acme.operators[0]), values)) <= teammates


def test_at_bob_in_a_note_notifies_bob_live(live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    alice_user, bob_user = acme.operators
    visitor, _ = open_visitor(live, acme.widget)
    cid = visitor.request({"type": "message", "client_id": "v1", "body": "Hi"})["conversation"]
    alice, bob = open_operator(live, alice_user), open_operator(live, bob_user)
    bob.recv_until(lambda f: f["type"] == "counts")
    intruder = open_operator(live, globex.operators[0])
    ack = alice.request({"type": "note", "conversation": cid, "client_id": "n1",
                         "body": "@Bob please", "mentions": [bob_user.pk]})
    assert ack["type"] == "ack"
    told = bob.recv_until(lambda f: f["type"] == "notification")
    assert told["notification"]["kind"] == "mention"
    assert told["notification"]["url"] == f"/inbox/{cid}/#seq-{ack['seq']}"
    mentioned = bob.recv_until(lambda f: f["type"] == "mentioned")
    assert mentioned == {"type": "mentioned", "conversation": cid, "seq": ack["seq"],
                         "mentions_unread": 1}
    counts = bob.recv_until(lambda f: f["type"] == "counts" and f["counts"]["mentions"] == 1)
    assert counts["counts"]["mentions"] == 1
    # Bob is online: no e-mail. Seeing the note reads the mention.
    assert mail.outbox == []
    bob.request({"type": "seen", "conversation": cid, "seq": ack["seq"]})
    bob.recv_until(lambda f: f["type"] == "counts" and f["counts"]["mentions"] == 0)
    # Globex's operator heard nothing, and cannot mention into Acme's conversation.
    refused = intruder.request({"type": "note", "conversation": cid, "client_id": "x",
                                "body": "@Bob", "mentions": [bob_user.pk]})
    assert refused["code"] == "not_found"
    assert not [f for f in intruder.backlog if f["type"] in ("notification", "mentioned")]
    for ws in (visitor, alice, bob, intruder):
        ws.close()
