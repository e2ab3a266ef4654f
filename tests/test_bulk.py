"""Bulk actions (M5): each row through its single action and checks (stage table, claims,
roles, tenancy), the answer naming the rows refused and why, the bound refused whole, the
HTTP endpoint (CSRF, JSON), and the live summaries a console hears."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from plug2support.conversations.actions.bulk import BULK_MAX, do_bulk
from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.tags import tags_for
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import (
    Conversation,
    ConversationTag,
    Event,
    EventKind,
    Stage,
    StageChange,
)

from .conftest import Tenant, logged_in_client, make_tenant, open_operator

URL = "/console/conversations/bulk"


def conversation_in(tenant: Tenant, stage: str = Stage.NEEDS_RESPONSE) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v1", body="Hello")
    Conversation.objects.filter(pk=posted.event.conversation_id).update(stage=stage)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def stages_of(*conversations: Conversation) -> list[str]:
    return [Conversation.objects.get(pk=c.pk).stage for c in conversations]


def post(client: Client, body: Any) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_resolve_each_row_through_the_stage_table(acme: Tenant, globex: Tenant) -> None:
    a, b = conversation_in(acme), conversation_in(acme, Stage.WAITING_ON_USER)
    spam = conversation_in(acme, Stage.SUSPENDED)
    foreign = conversation_in(globex)
    result = do_bulk(acme.membership(acme.operators[0]),
                     [a.pk, spam.pk, foreign.pk, b.pk, a.pk, 999999], "resolve")
    assert result.changed == [a.pk, b.pk]
    assert [(r["id"], r["code"]) for r in result.refused] == [
        (spam.pk, "illegal_move"), (foreign.pk, "not_found"), (999999, "not_found")]
    assert "cannot move to Resolved" in result.refused[0]["message"]
    # Another company's row is "not found" like any unknown id, and untouched.
    assert result.refused[1]["message"] == result.refused[2]["message"] == "No such conversation."
    assert stages_of(a, b, spam, foreign) == [Stage.RESOLVED, Stage.RESOLVED, Stage.SUSPENDED,
                                              Stage.NEEDS_RESPONSE]
    assert StageChange.objects.filter(conversation=foreign).count() == 0
    assert StageChange.objects.filter(conversation__company=acme.company).count() == 2
    assert result.as_dict()["changed"] == 2


def test_repeated_ids_count_once(acme: Tenant) -> None:
    c = conversation_in(acme)
    result = do_bulk(acme.membership(acme.owner), [c.pk] * (BULK_MAX + 1), "resolve")
    assert result.as_dict()["changed"] == 1 and result.as_dict()["refused"] == []


def test_past_the_bound_or_malformed_nothing_changes(acme: Tenant) -> None:
    c = conversation_in(acme)
    owner = acme.membership(acme.owner)
    with pytest.raises(ConversationError) as error:
        do_bulk(owner, list(range(1, BULK_MAX + 2)), "resolve")
    assert error.value.code == "too_many" and f"At most {BULK_MAX}" in error.value.message
    assert f"({BULK_MAX + 1} given)" in error.value.message
    with pytest.raises(ConversationError) as error:  # far past it: not even read
        do_bulk(owner, [c.pk] * (BULK_MAX * 4 + 1), "resolve")
    assert error.value.code == "too_many"
    c.refresh_from_db()
    assert c.stage != Stage.RESOLVED
    for ids, action, code in [([c.pk, "x"], "resolve", "bad_ids"), ([], "resolve", "bad_ids"),
                              ("1,2", "resolve", "bad_ids"), ([c.pk], "explode", "unknown_action"),
                              ([c.pk, True], "resolve", "bad_ids"),
                              ([c.pk], "move", "unknown_stage")]:
        with pytest.raises(ConversationError) as error:
            do_bulk(owner, ids, action)
        assert error.value.code == code
    assert stages_of(c) == [Stage.NEEDS_RESPONSE]


def test_assign_claims_for_oneself_and_reassigns_only_for_admins(acme: Tenant) -> None:
    alice, bob = acme.operators
    free, bobs = conversation_in(acme), conversation_in(acme)
    Conversation.objects.filter(pk=bobs.pk).update(assignee=bob)
    result = do_bulk(acme.membership(alice), [free.pk, bobs.pk], "assign", {"to": alice.pk})
    assert result.changed == [free.pk]
    assert [(r["id"], r["code"]) for r in result.refused] == [(bobs.pk, "already_served")]
    # An operator cannot hand conversations to others; the owner can.
    refused = do_bulk(acme.membership(alice), [free.pk], "assign", {"to": bob.pk})
    assert [r["code"] for r in refused.refused] == ["forbidden"]
    done = do_bulk(acme.membership(acme.owner), [free.pk, bobs.pk], "assign", {"to": bob.pk})
    assert done.changed == [free.pk] and done.refused[0]["code"] == "already_serving"
    assert set(Conversation.objects.filter(pk__in=[free.pk, bobs.pk])
               .values_list("assignee", flat=True)) == {bob.pk}


def test_tag_untag_move_and_snooze(acme: Tenant, globex: Tenant) -> None:
    owner = acme.membership(acme.owner)
    a, b = conversation_in(acme), conversation_in(acme, Stage.RESOLVED)
    stalled = next(t for t in tags_for(acme.company.pk) if t.name == "Stalled")
    assert do_bulk(owner, [a.pk, b.pk], "tag", {"tag": stalled.pk}).changed == [a.pk, b.pk]
    foreign_tag = tags_for(globex.company.pk)[0]
    refused = do_bulk(owner, [a.pk], "tag", {"tag": foreign_tag.pk})
    assert [r["code"] for r in refused.refused] == ["not_found"]
    untagged = do_bulk(owner, [a.pk, b.pk], "untag", {"tag": stalled.pk})
    assert untagged.changed == [a.pk, b.pk] and not ConversationTag.objects.exists()
    moved = do_bulk(owner, [a.pk, b.pk], "move", {"to": Stage.HOLD})
    assert moved.changed == [a.pk] and moved.refused[0]["code"] == "illegal_move"
    snoozed = do_bulk(owner, [a.pk, b.pk], "snooze", {"preset": "tomorrow_morning"})
    assert snoozed.changed == [a.pk] and snoozed.refused[0]["code"] == "not_snoozable"
    past = do_bulk(owner, [a.pk], "snooze", {"until": "2001-01-01T00:00Z"})
    assert past.refused[0]["code"] == "snooze_in_past"
    assert Event.objects.filter(kind=EventKind.SNOOZED).count() == 1


def test_the_http_endpoint(acme: Tenant, globex: Tenant) -> None:
    a, foreign = conversation_in(acme), conversation_in(globex)
    client = logged_in_client(acme.operators[0])
    answer = post(client, {"ids": [a.pk, foreign.pk], "action": "resolve"})
    assert answer.status_code == 200
    assert answer.json() == {"changed": 1, "changed_ids": [a.pk], "refused": [
        {"id": foreign.pk, "code": "not_found", "message": "No such conversation."}]}
    too_many = post(client, {"ids": list(range(1, BULK_MAX + 2)), "action": "resolve"})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "too_many"
    assert too_many.json()["error"]["limit"] == BULK_MAX
    assert post(client, ["not", "an", "object"]).status_code == 400
    bad = client.post(URL, b"\xff{", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    assert client.get(URL).status_code == 405
    assert Client().post(URL, "{}", content_type="application/json").status_code == 302  # login
    # The console's CSRF token is required, as for every console POST.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(acme.operators[0])
    assert post(strict, {"ids": [a.pk], "action": "resolve"}).status_code == 403
    assert stages_of(foreign) == [Stage.NEEDS_RESPONSE]


def test_a_console_hears_each_changed_conversation(live: str) -> None:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    conversations = [conversation_in(acme) for _ in range(3)]
    foreign = conversation_in(globex)
    watcher = open_operator(live, acme.operators[1])
    outsider = open_operator(live, globex.owner)
    client = logged_in_client(acme.operators[0])
    ids = [c.pk for c in conversations]
    answer = post(client, {"ids": [*ids, foreign.pk], "action": "resolve"}).json()
    assert answer["changed"] == 3
    heard: set[int] = set()
    while heard != set(ids):
        frame = watcher.recv_until(lambda f: f["type"] == "conversation"
                                   and f["conversation"]["stage"] == "resolved")
        heard.add(frame["conversation"]["id"])
    # Globex's console hears nothing of Acme's rows (its own row was not touched).
    ping = outsider.request({"type": "ping"})
    assert ping["type"] == "pong"
    assert not [f for f in outsider.backlog if f["type"] == "conversation"]
