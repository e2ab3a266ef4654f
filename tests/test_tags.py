"""Tags (D7): the built-in ones and the company's own; a tag of another company, a missing
value or a duplicate name is refused and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.tags import do_create_tag, do_tag, do_untag, tags_for
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, ConversationTag, Tag

from .conftest import Tenant, make_tenant, open_operator, open_visitor


def conversation_of(tenant: Tenant) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body="Hi")
    return Conversation.objects.get(pk=posted.event.conversation_id)


def tag_named(tenant: Tenant, name: str) -> Tag:
    return next(t for t in tags_for(tenant.company.pk) if t.name == name)


def test_every_company_has_the_built_in_tags(acme: Tenant) -> None:
    names = [t.name for t in tags_for(acme.company.pk) if t.built_in]
    assert set(names) == {"Stalled", "Priority", "Escalated", "Fast moving", "Slow moving",
                          "Blocked", "Resolution"}
    tags_for(acme.company.pk)  # idempotent
    assert Tag.objects.filter(company=acme.company).count() == 7


def test_tagging_with_and_without_a_value(acme: Tenant) -> None:
    conversation = conversation_of(acme)
    alice = acme.membership(acme.operators[0])
    do_tag(alice, conversation, tag_named(acme, "Escalated").pk)
    with pytest.raises(ConversationError) as error:
        do_tag(alice, conversation, tag_named(acme, "Resolution").pk)
    assert error.value.code == "value_required"
    do_tag(alice, conversation, tag_named(acme, "Resolution").pk, "refunded")
    links = {str(link) for link in ConversationTag.objects.all()}
    assert links == {"Escalated", "Resolution: refunded"}
    do_untag(alice, conversation, tag_named(acme, "Escalated").pk)
    with pytest.raises(ConversationError) as error:
        do_untag(alice, conversation, tag_named(acme, "Escalated").pk)
    assert error.value.code == "not_tagged"


def test_a_company_makes_its_own_tags_once(acme: Tenant, globex: Tenant) -> None:
    alice = acme.membership(acme.operators[0])
    tag = do_create_tag(alice, "  Billing   question ")
    assert tag.name == "Billing question" and not tag.built_in
    for bad, code in (("billing QUESTION", "tag_exists"), ("", "invalid_tag"),
                      ("x" * 51, "invalid_tag"), (None, "invalid_tag")):
        with pytest.raises(ConversationError) as error:
            do_create_tag(alice, bad)
        assert error.value.code == code
    # Globex may have its own tag of the same name.
    do_create_tag(globex.membership(globex.owner), "Billing question")


def test_another_companys_tag_cannot_be_applied(acme: Tenant, globex: Tenant) -> None:
    conversation = conversation_of(acme)
    theirs = do_create_tag(globex.membership(globex.owner), "Secret")
    with pytest.raises(ConversationError) as error:
        do_tag(acme.membership(acme.owner), conversation, theirs.pk)
    assert error.value.code == "not_found"
    assert not ConversationTag.objects.exists()


def test_tags_over_the_socket_show_in_the_summary(live: str) -> None:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    visitor, _ = open_visitor(live, acme.widget)
    cid = visitor.request({"type": "message", "client_id": "v", "body": "Hi"})["conversation"]
    alice = open_operator(live, acme.operators[0])
    created = alice.request({"type": "create_tag", "name": "VIP"})
    assert created["type"] == "tag_created"
    assert alice.request({"type": "tag", "conversation": cid,
                          "tag": created["tag"]["id"]})["type"] == "tagged"
    summary = alice.recv_until(lambda f: f["type"] == "conversation"
                               and f["conversation"]["tags"])
    assert summary["conversation"]["tags"] == [{"id": created["tag"]["id"], "name": "VIP",
                                                "value": ""}]
    intruder = open_operator(live, globex.owner)
    assert intruder.request({"type": "tag", "conversation": cid,
                             "tag": created["tag"]["id"]})["code"] == "not_found"
    own = intruder.request({"type": "create_tag", "name": "Mine"})
    refused = alice.request({"type": "tag", "conversation": cid, "tag": own["tag"]["id"]})
    assert refused["code"] == "not_found"


def test_the_summary_published_after_tagging_has_the_new_tags(
        acme: Tenant, monkeypatch: pytest.MonkeyPatch,
        django_capture_on_commit_callbacks: Any) -> None:
    """A writer's locked row carries the tags it read (hot_path.locked_conversation): tagging
    and untagging publish the tags as they are after the change, not as they were read."""
    from plug2support.realtime import hub

    published: list[dict[str, object]] = []
    monkeypatch.setattr(hub.hub, "publish", lambda topic, payload: published.append(payload))
    conversation = conversation_of(acme)
    alice = acme.membership(acme.operators[0])
    stalled, blocked = tag_named(acme, "Stalled"), tag_named(acme, "Blocked")

    def last_tags() -> list[str]:
        summary = [p for p in published if p["type"] == "conversation"][-1]
        return [t["name"] for t in summary["conversation"]["tags"]]  # type: ignore[index]

    with django_capture_on_commit_callbacks(execute=True):
        do_tag(alice, conversation, stalled.pk)
    assert last_tags() == ["Stalled"]
    with django_capture_on_commit_callbacks(execute=True):
        do_tag(alice, conversation, blocked.pk)
    assert last_tags() == ["Stalled", "Blocked"]
    with django_capture_on_commit_callbacks(execute=True):
        do_untag(alice, conversation, stalled.pk)
    assert last_tags() == ["Blocked"]


def test_a_control_character_in_a_tag_name_or_value_is_refused(acme: Tenant) -> None:
    # PostgreSQL's text cannot hold a NUL: a bulk tag with one was a 500 there.
    conversation = conversation_of(acme)
    alice = acme.membership(acme.operators[0])
    for refused in (lambda: do_tag(alice, conversation, tag_named(acme, "Resolution").pk,
                                   "a\x00b"),
                    lambda: do_create_tag(alice, "VIP\x1b")):
        with pytest.raises(ConversationError) as error:
            refused()
        assert error.value.code == "invalid_tag"
    assert not ConversationTag.objects.exists()
    assert not Tag.objects.filter(name__startswith="VIP").exists()
