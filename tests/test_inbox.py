"""The inbox list (D9, D10): saved views, filters, full-text search on both databases,
the order (priority, then the longest wait), a fixed number of queries, bad filters refused,
and nothing of another company's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from plug2support.conversations import inbox
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.tags import do_tag, tags_for
from plug2support.conversations.actions.teamwork import do_add_note, do_claim, do_set_priority
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.inbox import (
    Filters,
    InboxError,
    inbox_page,
    inbox_summaries,
    inbox_summaries_json,
)
from plug2support.conversations.models import Conversation, OperatorGroup
from plug2support.conversations.serializers import conversation_summary
from plug2support.widgets.models import Visitor
from plug2support.widgets.names import generated_name

from .conftest import Tenant, logged_in_client


def start(tenant: Tenant, body: str, client_id: str = "v1") -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=client_id, body=body)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def ids(membership: Any, **filters: Any) -> list[int]:
    return [c.pk for c in inbox_page(membership, Filters(**filters))]


def test_saved_views(acme: Tenant) -> None:
    alice, bob = (acme.membership(u) for u in acme.operators)
    waiting = start(acme, "nobody has it")
    alices = start(acme, "alice has it")
    do_claim(alice, alices)
    answered = start(acme, "answered")
    do_post_operator_message(alice, answered, client_id="a", body="Hi")  # → WOU
    done = start(acme, "done")
    do_move_stage(alice, done, "resolved")
    assert set(ids(alice)) == {waiting.pk, alices.pk, answered.pk}  # all open
    assert ids(alice, view="needs_my_reply") == [alices.pk]
    assert set(ids(alice, view="unassigned")) == {waiting.pk}
    assert set(ids(alice, view="mine")) == {alices.pk, answered.pk}
    assert ids(bob, view="mine") == []
    assert done.pk in ids(alice, view="all")


def test_filters(acme: Tenant) -> None:
    alice = acme.membership(acme.operators[0])
    first, second = start(acme, "one"), start(acme, "two")
    tag = next(t for t in tags_for(acme.company.pk) if t.name == "Escalated")
    do_tag(alice, second, tag.pk)
    do_claim(alice, first)
    do_set_priority(alice, first, 3)
    assert ids(alice, tag=tag.pk) == [second.pk]
    assert ids(alice, owner=alice.user_id) == [first.pk]
    assert ids(alice, owner=0) == [second.pk]
    assert ids(alice, priority=3) == [first.pk]
    assert ids(alice, stage="new") == [first.pk, second.pk]
    assert set(ids(alice, widget=acme.widget.pk)) == {first.pk, second.pk}


def test_order_is_priority_then_the_longest_wait(acme: Tenant) -> None:
    alice = acme.membership(acme.operators[0])
    now = timezone.now()
    with time_machine.travel(now - timedelta(minutes=30)):
        oldest = start(acme, "waiting 30 min")
    with time_machine.travel(now - timedelta(minutes=10)):
        newer = start(acme, "waiting 10 min")
    urgent = start(acme, "urgent, just now")
    do_set_priority(alice, urgent, 3)
    answered = start(acme, "answered")
    do_post_operator_message(alice, answered, client_id="a", body="Hello")
    assert ids(alice) == [urgent.pk, oldest.pk, newer.pk, answered.pk]


@pytest.mark.parametrize("query,expected", [
    ("refund", {"refund"}), ("REFUND policy", {"refund"}), ("shipp", {"shipping"}),
    ("parcel", set()), ('"; DROP TABLE x; --', set()), ("refund OR shipping", set()),
])
def test_full_text_search_over_messages(acme: Tenant, globex: Tenant, query: str,
                                        expected: set[str]) -> None:
    refund = start(acme, "What is your refund policy?")
    shipping = start(acme, "How long does shipping take?")
    start(globex, "refund for globex customer")  # never in Acme's results
    alice = acme.membership(acme.operators[0])
    names = {refund.pk: "refund", shipping.pk: "shipping"}
    assert {names[i] for i in ids(alice, q=query)} == expected


def test_search_finds_notes_and_replies_too(acme: Tenant) -> None:
    conversation = start(acme, "hello")
    alice = acme.membership(acme.operators[0])
    do_add_note(alice, conversation, client_id="n", body="customer wants a discount")
    assert ids(alice, q="discount") == [conversation.pk]


def test_the_list_costs_the_same_queries_whatever_its_length(
        acme: Tenant, django_assert_num_queries: Any) -> None:
    alice = acme.membership(acme.operators[0])
    tag = next(t for t in tags_for(acme.company.pk) if t.name == "Stalled")

    def fill(n: int) -> None:
        for i in range(n):
            c = start(acme, f"message {i}", client_id=f"c{i}")
            do_tag(alice, c, tag.pk)
            do_claim(alice, c)

    fill(3)
    with django_assert_num_queries(2):  # the conversations, then their tags
        few = inbox_page(alice, Filters(view="all"))
        _ = [c.tag_links.all()[0].tag.name for c in few]
    fill(30)
    with django_assert_num_queries(2):
        many = inbox_page(alice, Filters(view="all"))
        _ = [c.tag_links.all()[0].tag.name for c in many]
    assert len(many) == 33


@pytest.mark.parametrize("params", [{"view": "everything"}, {"stage": "done"}, {"tag": "x"},
                                    {"priority": "9"}, {"q": "x" * 201}, {"owner": "-1"}])
def test_bad_filters_are_refused_clearly(params: dict[str, str]) -> None:
    with pytest.raises(InboxError):
        Filters.parse(params)


def test_the_list_endpoint_is_scoped_to_the_company(acme: Tenant, globex: Tenant) -> None:
    start(acme, "acme question")
    theirs = start(globex, "globex question")
    alice = logged_in_client(acme.operators[0])
    listed = alice.get("/inbox/list?view=all").json()["conversations"]
    assert [c["preview"] for c in listed] == ["acme question"]
    assert theirs.pk not in [c["id"] for c in alice.get("/inbox/list?q=question").json()[
        "conversations"]]
    # A filter naming another company's widget or tag simply matches nothing.
    assert alice.get(f"/inbox/list?widget={globex.widget.pk}").json()["conversations"] == []
    bad = alice.get("/inbox/list?view=nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_filter"
    assert Client().get("/inbox/list").status_code == 302  # logged out: to the login page


def test_search_skips_the_systems_own_lines(acme: Tenant) -> None:
    conversation = start(acme, "hello there")
    alice = acme.membership(acme.operators[0])
    do_claim(alice, conversation)  # "… joined the conversation"
    assert ids(alice, q="joined") == []


def test_a_priority_change_is_in_the_history_and_newer(acme: Tenant) -> None:
    conversation = start(acme, "hi")
    alice = acme.membership(acme.operators[0])
    before = conversation.last_seq
    do_set_priority(alice, conversation, 2)
    conversation.refresh_from_db()
    assert conversation.priority == 2 and conversation.last_seq == before + 1
    assert "Low → High priority" in conversation.events.get(kind="priority").body
    do_set_priority(alice, conversation, 2)  # no change, no event
    conversation.refresh_from_db()
    assert conversation.last_seq == before + 1


def test_the_json_list_reads_plain_values_and_says_exactly_what_the_summaries_say(
        acme: Tenant, globex: Tenant, django_assert_num_queries: Any) -> None:
    """inbox_summaries (no model objects, for speed) against conversation_summary of the
    same page, on every view, with tags, owners, a group, a visitor's address; and nothing
    of another company's."""
    alice, bob = (acme.membership(u) for u in acme.operators)
    tags = tags_for(acme.company.pk)
    plain = start(acme, "plain")
    owned = start(acme, "owned", client_id="v2")
    do_claim(alice, owned)
    plain_tag = next(t for t in tags if not t.takes_value)
    valued_tag = next(t for t in tags if t.takes_value)
    do_tag(alice, owned, plain_tag.pk)
    do_tag(alice, owned, valued_tag.pk, "a value")
    do_set_priority(alice, owned, 3)
    grouped = start(acme, "grouped", client_id="v3")
    do_post_operator_message(bob, grouped, client_id="b", body="On it")
    group = OperatorGroup.objects.create(company=acme.company, name="Billing")
    Conversation.objects.filter(pk=grouped.pk).update(group=group)
    Visitor.objects.filter(pk=plain.visitor_id).update(email="jane@example.com")
    start(globex, "theirs")
    for filters in (Filters(), Filters(view="all"), Filters(view="mine"),
                    Filters(view="unassigned"), Filters(tag=plain_tag.pk), Filters(q="owned")):
        expected = [conversation_summary(c) for c in inbox_page(alice, filters)]
        assert inbox_summaries(alice, filters) == expected
    with django_assert_num_queries(1):  # the rows, their tags as JSON in a subquery
        listed = inbox_summaries(alice, Filters(view="all"))
    assert {c["preview"] for c in listed} == {"plain", "owned", "On it"}
    by_id = {c["id"]: c for c in listed}
    assert by_id[plain.pk]["visitor"]["name"] == "jane@example.com"
    assert [t["value"] for t in by_id[owned.pk]["tags"]] == ["", "a value"]
    assert by_id[grouped.pk]["group"] == {"id": group.pk, "name": "Billing"}


def test_the_json_list_writes_times_names_and_order_as_the_summaries_do(
        acme: Tenant) -> None:
    """On PostgreSQL the statement writes the page's JSON itself: its timestamps as
    isoformat() writes them (no fraction when there are no microseconds, six digits when
    there are some, even with trailing zeros), a visitor without an address by number, a
    person without a display name by address, and the page's order (priority first)."""
    alice = acme.membership(acme.operators[0])
    whole = start(acme, "whole second")
    fraction = start(acme, "a fraction", client_id="v2")
    Conversation.objects.filter(pk=whole.pk).update(
        created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        waiting_since=datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC))
    Conversation.objects.filter(pk=fraction.pk).update(
        created_at=datetime(2026, 3, 2, 9, 0, 0, 120000, tzinfo=UTC),
        waiting_since=datetime(2026, 3, 2, 9, 0, 0, 5, tzinfo=UTC), priority=2)
    acme.operators[1].name = ""
    acme.operators[1].save(update_fields=["name"])
    do_claim(acme.membership(acme.operators[1]), Conversation.objects.get(pk=whole.pk))
    listed = json.loads(inbox_summaries_json(alice, Filters(view="all")))
    assert listed == [conversation_summary(c) for c in inbox_page(alice, Filters(view="all"))]
    assert [c["id"] for c in listed] == [fraction.pk, whole.pk]
    by_id = {c["id"]: c for c in listed}
    assert by_id[whole.pk]["created_at"] == "2026-03-02T09:00:00+00:00"
    assert by_id[whole.pk]["waiting_since"] == "2026-03-02T09:00:05+00:00"
    assert by_id[fraction.pk]["created_at"] == "2026-03-02T09:00:00.120000+00:00"
    assert by_id[fraction.pk]["waiting_since"] == "2026-03-02T09:00:00.000005+00:00"
    assert by_id[fraction.pk]["visitor"]["name"] == generated_name(fraction.visitor_id)
    assert by_id[whole.pk]["served_by"] == {"id": acme.operators[1].pk,
                                            "name": acme.operators[1].email}
    assert json.loads(logged_in_client(acme.operators[0]).get(
        "/inbox/list?view=all").content)["conversations"] == listed


def test_the_opening_view_is_prepared_once_and_shows_each_company_its_own(
        acme: Tenant, globex: Tenant) -> None:
    """On PostgreSQL the view an operator opens the inbox on is a prepared statement, one
    for every company (its plan suits them all); the other views are planned each time (a
    generic plan made the Mine view four times slower). Each company sees only its own."""
    ours, theirs = start(acme, "ours"), start(globex, "theirs")
    alice, gina = acme.membership(acme.operators[0]), globex.membership(globex.operators[0])
    for _ in range(2):
        assert [c["id"] for c in json.loads(inbox_summaries_json(alice, Filters()))] == [
            ours.pk]
        assert [c["id"] for c in json.loads(inbox_summaries_json(gina, Filters()))] == [
            theirs.pk]
        assert json.loads(inbox_summaries_json(alice, Filters(view="mine"))) == []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, statement FROM pg_prepared_statements "
                           "WHERE statement LIKE %s", ["SELECT COALESCE(json_agg(%"])
            prepared = cursor.fetchall()
            assert len(prepared) == 1
            assert "assignee_id\" = $" not in prepared[0][1]  # not the Mine view's
            # The plan PostgreSQL keeps after five calls is a generic one, which sees only
            # placeholders: it must still read the open conversations' partial index (the
            # stages are written into the statement). Sequential scans off: this company is
            # small enough to be read whole.
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute("SET enable_seqscan = off")
            try:
                statement = inbox._statement(alice, Filters(), inbox.PAGE_SIZE, as_json=True)
                assert statement is not None
                params = statement.params
                cursor.execute(f'EXPLAIN EXECUTE "{prepared[0][0]}" '
                               f'({", ".join(["%s"] * len(params))})', params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            finally:
                cursor.execute("RESET plan_cache_mode")
                cursor.execute("RESET enable_seqscan")
        assert "conv_inbox_open" in plan


def test_a_compiled_page_is_reused_only_for_the_same_company_person_and_filters(
        acme: Tenant, globex: Tenant) -> None:
    """The JSON list keeps each compiled statement for its exact inputs: another tag, another
    view, another person or another company is another statement, and new rows show."""
    alice = acme.membership(acme.operators[0])
    tags = [t for t in tags_for(acme.company.pk) if not t.takes_value][:2]
    first, second = start(acme, "first"), start(acme, "second", client_id="v2")
    do_tag(alice, first, tags[0].pk)
    do_tag(alice, second, tags[1].pk)
    start(globex, "theirs")
    for _ in range(2):  # compiled, then reused
        assert [c["preview"] for c in inbox_summaries(alice, Filters(tag=tags[0].pk))] == \
            ["first"]
        assert [c["preview"] for c in inbox_summaries(alice, Filters(tag=tags[1].pk))] == \
            ["second"]
    globex_op = globex.membership(globex.operators[0])
    assert [c["preview"] for c in inbox_summaries(globex_op, Filters())] == ["theirs"]
    do_claim(alice, first)
    assert [c["preview"] for c in inbox_summaries(alice, Filters(view="mine"))] == ["first"]
    start(acme, "third", client_id="v3")
    assert {c["preview"] for c in inbox_summaries(alice, Filters())} == {
        "first", "second", "third"}


def test_each_summary_names_the_views_and_filters_whose_lists_hold_it_and_its_place(
        acme: Tenant, globex: Tenant) -> None:
    """A summary's `views` and `sort_key` say what the lists say: for every view, filter and
    person, the conversations whose summaries have all the list's views, ordered by their
    sort keys, are exactly that list, in its order (on PostgreSQL the JSON the database
    builds, on SQLite the rows shaped in Python, and the objects' summaries)."""
    alice, bob = (acme.membership(u) for u in acme.operators)
    tags = [t for t in tags_for(acme.company.pk) if not t.takes_value][:2]
    now = timezone.now()
    made = []
    for minutes, body in enumerate(["waiting", "alices", "answered", "bobs", "done", "spam",
                                    "tagged", "urgent"]):
        with time_machine.travel(now - timedelta(minutes=60 - minutes)):
            made.append(start(acme, body, client_id=f"v{minutes}"))
    _, alices, answered, bobs, done, spam, tagged, urgent = made
    do_claim(alice, alices)
    do_post_operator_message(alice, answered, client_id="a", body="Hi")  # → WOU
    do_claim(bob, bobs)
    do_move_stage(alice, done, "resolved")
    do_move_stage(alice, spam, "suspended")
    do_tag(alice, tagged, tags[0].pk)
    do_tag(alice, tagged, tags[1].pk)
    do_set_priority(alice, urgent, 3)
    do_claim(alice, urgent)
    start(globex, "theirs")
    every = [Filters(view=view) for view in inbox.VIEWS] + [
        Filters(view="all", stage=stage) for stage in ("new", "waiting_on_user", "resolved")
    ] + [Filters(view="all", owner=0), Filters(view="all", owner=alice.user_id),
         Filters(tag=tags[0].pk), Filters(view="mine", priority=3), Filters(priority=0),
         Filters(widget=acme.widget.pk), Filters(view="unassigned", tag=tags[1].pk)]
    for reader in (alice, bob):
        everything = inbox_summaries(reader, Filters(view="all"))
        assert everything == [conversation_summary(c) for c in inbox_page(
            reader, Filters(view="all"))]
        for filters in every:
            wanted = set(filters.views(reader.user_id))
            held = sorted((c for c in everything if wanted <= set(c["views"])),
                          key=lambda c: c["sort_key"])
            assert [c["id"] for c in held] == ids(reader, **filters.__dict__), filters
    by_id = {c["id"]: c for c in inbox_summaries(bob, Filters(view="all"))}
    # The same for every reader: a personal view is named with its person.
    assert by_id[urgent.pk]["views"][:4] == [
        "all_open", f"needs_my_reply:{alice.user_id}", f"mine:{alice.user_id}", "all"]
    assert by_id[tagged.pk]["views"][-2:] == [f"tag:{tags[0].pk}", f"tag:{tags[1].pk}"]
    assert by_id[urgent.pk]["sort_key"][0] == -3


def test_the_list_names_the_views_a_live_summary_needs_to_belong_in_it(
        acme: Tenant) -> None:
    """The JSON list and the inbox page say which views their list shows, so that a console
    places a live summary without view rules of its own."""
    alice = acme.membership(acme.operators[0])
    client = logged_in_client(acme.operators[0])
    assert client.get("/inbox/list").json()["views"] == ["all_open"]
    assert client.get("/inbox/list?view=mine&owner=0&tag=3&q=x").json()["views"] == [
        f"mine:{alice.user_id}", "owner:0", "tag:3"]
    page = client.get("/inbox/")
    assert page.context["inbox_state"]["list_views"] == ["all_open"]
    assert page.context["inbox_state"]["views"] == {
        "all_open": "All open", "needs_my_reply": "Needs my reply",
        "unassigned": "Unassigned", "mine": "Mine", "snoozed": "Snoozed", "all": "All"}
