"""M7 (issue 18 point 7): the view list's live counts, per person and company, kept live
over the operator socket by one recount per company per burst; unread per operator."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.reading import do_mark_seen, read_positions
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.teamwork import do_claim
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.inbox import VIEWS, Filters, inbox_page
from plug2support.conversations.inbox.counts import company_counts, counts_for
from plug2support.conversations.models import Conversation, ReadPosition
from plug2support.realtime.endpoints.counts import VIEW_COUNTS

from .conftest import Tenant, open_operator, open_visitor


def _conversation(tenant: Tenant, text: str = "Hello") -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=f"c-{text}", body=text)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def _listed_open(tenant: Tenant, user_id: int, view: str) -> int:
    """What the view's list shows, its closed conversations left out (what a count counts)."""
    membership = tenant.membership(tenant.company.memberships.get(user_id=user_id).user)
    return sum(1 for c in inbox_page(membership, Filters(view=view), limit=1000)
               if c.stage not in ("resolved", "archived"))


def test_each_view_counts_what_its_list_shows_per_person_and_company(
        acme: Tenant, globex: Tenant) -> None:
    alice, bob = acme.operators
    first, second, third = (_conversation(acme, t) for t in ("one", "two", "three"))
    _conversation(globex, "elsewhere")
    do_claim(acme.membership(alice), first)
    do_claim(acme.membership(bob), second)
    do_move_stage(acme.membership(alice), Conversation.objects.get(pk=first.pk), "resolved")
    with CaptureQueriesContext(connection) as queries:
        counted = company_counts(acme.company.pk)
    assert len(queries) == 1
    for user in (alice, bob):
        counts = counts_for(counted, user.pk)
        assert set(counts) == set(VIEWS)
        for view in VIEWS:
            assert counts[view] == _listed_open(acme, user.pk, view), (user, view)
    assert counts_for(counted, alice.pk)["mine"] == 0  # resolved: it waits for nobody
    assert counts_for(counted, bob.pk)["mine"] == 1
    assert counts_for(counted, bob.pk)["unassigned"] == 1  # the third
    assert counts_for(company_counts(globex.company.pk), alice.pk)["all_open"] == 1
    assert third.pk


def test_counts_come_on_connect_and_follow_a_burst_with_one_recount(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    alice = open_operator(live, acme.operators[0])
    first = alice.recv_until(lambda f: f["type"] == "counts")["counts"]
    assert first["all_open"] == 0 and first["mentions"] == 0
    assert set(first) == {*VIEWS, "mentions"}
    other = open_operator(live, globex.operators[0])
    other.recv_until(lambda f: f["type"] == "counts")
    before = VIEW_COUNTS.recounts
    # A burst: five first messages at once.
    visitors = [open_visitor(live, acme.widget)[0] for _ in range(5)]
    for i, visitor in enumerate(visitors):
        visitor.send({"type": "message", "client_id": f"b{i}", "body": "Help"})
    counts = alice.recv_until(lambda f: f["type"] == "counts" and f["counts"]["all_open"] == 5)
    assert counts["counts"]["unassigned"] == 5 and counts["counts"]["mine"] == 0
    # Far fewer statements than changes (one per burst window; a burst straddling two
    # windows, two), never one per conversation.
    assert VIEW_COUNTS.recounts - before <= 2
    # A claim moves one from Unassigned to Alice's Mine, on her console and Bob's.
    bob = open_operator(live, acme.operators[1])
    bob.recv_until(lambda f: f["type"] == "counts")
    cid = Conversation.objects.order_by("pk").first().pk  # type: ignore[union-attr]
    assert alice.request({"type": "claim", "conversation": cid})["type"] == "claimed"
    mine = alice.recv_until(lambda f: f["type"] == "counts" and f["counts"]["mine"] == 1)
    assert mine["counts"]["unassigned"] == 4
    theirs = bob.recv_until(lambda f: f["type"] == "counts" and f["counts"]["unassigned"] == 4)
    assert theirs["counts"]["mine"] == 0  # Bob's own Mine
    # The other company's console heard nothing of it.
    assert other.request({"type": "ping"})["type"] == "pong"
    assert not [f for f in other.backlog if f["type"] == "counts"]
    for ws in (*visitors, alice, bob, other):
        ws.close()


def test_seeing_a_conversation_clears_its_unread_on_my_consoles_only(
        live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    visitor, _ = open_visitor(live, acme.widget)
    cid = visitor.request({"type": "message", "client_id": "v1", "body": "Hi"})["conversation"]
    alice = open_operator(live, acme.operators[0])
    alice_tab = open_operator(live, acme.operators[0])
    bob = open_operator(live, acme.operators[1])
    summary = Conversation.objects.get(pk=cid)
    assert summary.last_customer_seq == 1
    reply = alice.request({"type": "seen", "conversation": cid, "seq": 1})
    assert reply == {"type": "seen", "ref": reply["ref"], "conversation": cid, "read_seq": 1}
    pushed = alice_tab.recv_until(lambda f: f["type"] == "seen")
    assert pushed["conversation"] == cid and pushed["read_seq"] == 1
    # The customer writes again: the summary says so, and Alice's position is below it.
    visitor.request({"type": "message", "client_id": "v2", "body": "Still there?"})
    frame = alice.recv_until(lambda f: f["type"] == "conversation"
                             and f["conversation"]["last_customer_seq"] > 1)
    assert frame["conversation"]["last_customer_seq"] == frame["conversation"]["last_seq"]
    # Bob never saw it; the list tells him so (no position) and Alice hers.
    assert read_positions(acme.operators[1].pk, [cid]) == {}
    assert read_positions(acme.operators[0].pk, [cid]) == {cid: 1}
    assert bob.request({"type": "ping"})["type"] == "pong"
    assert not [f for f in bob.backlog if f["type"] == "seen"]
    # Another company's operator cannot mark it.
    intruder = open_operator(live, globex.operators[0])
    refused = intruder.request({"type": "seen", "conversation": cid, "seq": 1})
    assert refused["type"] == "error" and refused["code"] == "not_found"
    for ws in (visitor, alice, alice_tab, bob, intruder):
        ws.close()


def test_unread_is_per_operator_and_cleared_by_seeing(acme: Tenant, globex: Tenant) -> None:
    alice, bob = acme.operators
    conversation = _conversation(acme, "first")
    assert conversation.last_customer_seq == 1
    do_mark_seen(acme.membership(alice), conversation, 1)
    assert read_positions(alice.pk, [conversation.pk]) == {conversation.pk: 1}
    assert read_positions(bob.pk, [conversation.pk]) == {}  # Bob has not seen it
    visitor = conversation.visitor
    do_post_visitor_message(visitor, client_id="again", body="Anyone?")
    conversation.refresh_from_db()
    assert conversation.last_customer_seq == conversation.last_seq > 1
    # A position never moves back, and a seq beyond the conversation is refused.
    do_mark_seen(acme.membership(alice), conversation, conversation.last_seq)
    do_mark_seen(acme.membership(alice), conversation, 1)
    assert ReadPosition.objects.get(user=alice).read_seq == conversation.last_seq
    import pytest

    from plug2support.conversations.actions.core import ConversationError
    with pytest.raises(ConversationError):
        do_mark_seen(acme.membership(alice), conversation, conversation.last_seq + 1)
