"""Custom attributes and notes (M9): definitions per company, values from a verified
identify (the attributes' own HMAC), from operators (a wrong type refused, nothing stored),
unknown identify keys counted, notes per contact and org; every endpoint scoped to one
company."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.contacts import actions
from plug2support.contacts.attributes import (
    AttributeError_,
    canonical,
    do_define_attribute,
    do_set_attribute,
)
from plug2support.contacts.identity import IdentityError, expected_attributes_hash
from plug2support.contacts.models import (
    AttributeDefinition,
    AttributeSource,
    AttributeValue,
    Note,
    UnknownAttribute,
)

from .conftest import Tenant, logged_in_client
from .test_contacts import org, signed, visitor_of


def define(tenant: Tenant) -> None:
    m = tenant.membership(tenant.owner)
    do_define_attribute(m, "plan", "Plan", "list", "free\npro")
    do_define_attribute(m, "seats", "Seats", "number")
    do_define_attribute(m, "renews", "Renews", "date")
    do_define_attribute(m, "vip", "VIP", "yes_no")
    do_define_attribute(m, "team", "Team", "text")


def values_of(contact: Any) -> dict[str, tuple[str, str]]:
    return {v.definition.key: (v.text, v.source)
            for v in AttributeValue.objects.filter(contact=contact).select_related("definition")}


def identify(tenant: Tenant, user: str, attributes: dict[str, object], *,
             good_hash: bool = True) -> object:
    widget = tenant.widget
    digest = expected_attributes_hash(widget.secret, user, attributes) if good_hash \
        else expected_attributes_hash("forged", user, attributes)
    return actions.do_identify(visitor_of(tenant), **signed(widget, user),
                               attributes=attributes, attributes_hash=digest)


def test_signed_attributes_are_verified_and_a_claim_never_overwrites_them(acme: Tenant) -> None:
    define(acme)
    contact = identify(acme, "u1", {"plan": "pro", "seats": 12.0, "vip": True})
    assert values_of(contact) == {"plan": ("pro", "verified"), "seats": ("12", "verified"),
                                  "vip": ("true", "verified")}
    # A forged attributes HMAC: the same user, but what the browser says is only a claim.
    identify(acme, "u1", {"plan": "free", "team": "Ops"}, good_hash=False)
    assert values_of(contact)["plan"] == ("pro", "verified")
    assert values_of(contact)["team"] == ("Ops", "claim")


def test_a_forged_user_hash_stores_no_attribute(acme: Tenant) -> None:
    define(acme)
    with pytest.raises(IdentityError):
        actions.do_identify(visitor_of(acme), user_id="u1", user_hash="0" * 64,
                            attributes={"plan": "pro"}, attributes_hash="0" * 64)
    assert not AttributeValue.objects.exists()


def test_a_wrong_type_from_identify_refuses_it_whole(acme: Tenant) -> None:
    define(acme)
    with pytest.raises(IdentityError) as refused:
        identify(acme, "u1", {"plan": "pro", "seats": "many"})
    assert refused.value.code == "bad_value" and "Seats (seats) is a number" in \
        refused.value.message
    assert not AttributeValue.objects.exists()


def test_unknown_keys_are_counted_never_created(acme: Tenant, globex: Tenant) -> None:
    define(acme)
    identify(acme, "u1", {"plan": "pro", "colour": "red"})
    identify(acme, "u2", {"colour": "blue", "Bad Key!": 1})
    row = UnknownAttribute.objects.get(company=acme.company)
    assert (row.key, row.count) == ("colour", 2)
    assert not AttributeDefinition.objects.filter(key="colour").exists()
    assert not UnknownAttribute.objects.filter(company=globex.company).exists()
    page = logged_in_client(acme.owner).get("/settings/attributes/")
    assert b"colour" in page.content
    assert b"colour" not in logged_in_client(globex.owner).get("/settings/attributes/").content


def test_operators_set_values_wrong_types_refused_other_company_404(acme: Tenant,
                                                                    globex: Tenant) -> None:
    define(acme)
    define(globex)
    contact = actions.do_identify(visitor_of(acme), **signed(acme.widget, "u1"))
    client = logged_in_client(acme.operators[0])
    url = f"/console/contacts/{contact.pk}/attributes"
    answer = client.post(url, {"key": "seats", "value": "3.50"})
    assert answer.status_code == 200
    assert {a["key"]: a["value"] for a in answer.json()["attributes"]}["seats"] == "3.5"
    refused = client.post(url, {"key": "renews", "value": "next week"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("Renews (renews) is a date")
    assert "renews" not in values_of(contact)
    assert client.post(url, {"key": "nope", "value": "x"}).status_code == 400
    other = logged_in_client(globex.operators[0])
    assert other.post(url, {"key": "seats", "value": "1"}).status_code == 404
    assert other.get(f"/console/contacts/{contact.pk}/fields.json").status_code == 404
    assert values_of(contact)["seats"] == ("3.5", AttributeSource.OPERATOR)


def test_notes_on_contacts_and_orgs(acme: Tenant, globex: Tenant) -> None:
    acme_org = org(acme, "Initech", "initech.test")
    contact = actions.do_identify(visitor_of(acme), **signed(acme.widget, "u1"),
                                  email="a@initech.test")
    mine, theirs = logged_in_client(acme.operators[0]), logged_in_client(acme.operators[1])
    added = mine.post(f"/console/contacts/{contact.pk}/notes", {"body": "Likes tea"})
    assert added.status_code == 201
    assert [n["body"] for n in added.json()["notes"]["contact"]] == ["Likes tea"]
    assert mine.post(f"/console/orgs/{acme_org.pk}/notes", {"body": "Big one"}).status_code \
        == 201
    assert mine.post(f"/console/orgs/{acme_org.pk}/notes", {"body": "\x00"}).status_code == 400
    assert mine.post(f"/console/orgs/{acme_org.pk}/notes", {"body": ""}).status_code == 400
    fields = mine.get(f"/console/contacts/{contact.pk}/fields.json").json()
    assert [n["body"] for n in fields["notes"]["org"]] == ["Big one"]
    note = Note.objects.get(body="Likes tea")
    assert theirs.post(f"/console/notes/{note.pk}/delete").status_code == 403
    other = logged_in_client(globex.owner)
    assert other.post(f"/console/notes/{note.pk}/delete").status_code == 404
    assert other.post(f"/console/contacts/{contact.pk}/notes", {"body": "x"}).status_code \
        == 404
    assert other.post(f"/console/orgs/{acme_org.pk}/notes", {"body": "x"}).status_code == 404
    assert mine.post(f"/console/notes/{note.pk}/delete").status_code == 200
    assert b"Big one" in logged_in_client(acme.owner).get(
        f"/customers/orgs/{acme_org.pk}/").content


def test_definitions_are_checked_and_admin_only(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    assert owner.post("/settings/attributes/", {"key": "Plan!", "label": "P",
                                                "type": "text"}).status_code == 200
    assert not AttributeDefinition.objects.exists()
    owner.post("/settings/attributes/", {"key": "plan", "label": "Plan", "type": "list",
                                         "choices": "a\nb"})
    assert AttributeDefinition.objects.get().choices == ["a", "b"]
    assert logged_in_client(acme.operators[0]).post(
        "/settings/attributes/", {"key": "x", "label": "X", "type": "text"}).status_code == 403


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                     st.lists(st.integers()), st.dictionaries(st.text(), st.text())),
       kind=st.sampled_from(["text", "number", "date", "yes_no", "list"]))
def test_any_value_is_stored_canonically_or_refused_by_name(raw: object, kind: str) -> None:
    definition = AttributeDefinition(key="k", label="K", type=kind, choices=["a"])
    try:
        text = canonical(definition, raw)
    except AttributeError_ as error:
        assert error.message.startswith("K (k) is a ")
        return
    assert 0 < len(text) <= 500 and canonical(definition, text) == text
    json.dumps(text)


def test_do_set_attribute_refuses_another_companys_contact(acme: Tenant,
                                                            globex: Tenant) -> None:
    define(acme)
    contact = actions.do_identify(visitor_of(globex), **signed(globex.widget, "u1"))
    with pytest.raises(PermissionDenied):
        do_set_attribute(acme.company.pk, contact, "plan", "pro", source="operator")


def test_the_inbox_filters_on_an_attribute_and_a_saved_view_keeps_it(acme: Tenant,
                                                                     globex: Tenant) -> None:
    from plug2support.conversations.actions.messages import do_post_visitor_message

    define(acme)
    define(globex)
    conversations = {}
    for user, seats in (("u1", 12), ("u2", 3)):
        visitor = visitor_of(acme)
        contact = actions.do_identify(visitor, **signed(acme.widget, user))
        do_set_attribute(acme.company.pk, contact, "seats", seats, source="operator")
        do_set_attribute(acme.company.pk, contact, "vip", seats > 5, source="operator")
        posted = do_post_visitor_message(visitor, client_id=user, body="hi")
        conversations[user] = posted.event.conversation_id
    client = logged_in_client(acme.operators[0])

    def listed(attr: str) -> list[int]:
        answer = client.get("/inbox/list", {"view": "all", "attr": attr})
        assert answer.status_code == 200, answer.content
        return [c["id"] for c in answer.json()["conversations"]]

    assert listed("seats:12.0") == [conversations["u1"]]
    assert listed("vip:no") == [conversations["u2"]]
    assert listed("plan:pro") == []
    for bad in ("seats", ":3", "Bad key:1", "seats:"):
        assert client.get("/inbox/list", {"attr": bad}).status_code == 400
    saved = client.post("/inbox/views", {"name": "Big", "view": "all", "attr": "seats:12"})
    assert saved.status_code == 201 and saved.json()["view"]["filters"]["attr"] == "seats:12"
    # Another company's operator filtering on the same key sees only their own.
    other = logged_in_client(globex.operators[0]).get("/inbox/list",
                                                      {"view": "all", "attr": "seats:12"})
    assert other.json()["conversations"] == []


def test_the_hellos_identity_carries_attributes_checked_like_identify(acme: Tenant) -> None:
    from plug2support.conversations.opening import do_open_visitor

    define(acme)
    attributes: dict[str, object] = {"plan": "pro"}
    identity = {**signed(acme.widget, "u9"), "attributes": attributes,
                "attributes_hash": expected_attributes_hash(acme.widget.secret, "u9",
                                                            attributes)}
    opened = do_open_visitor(acme.widget, None, identity=identity, invite=None, ip="1.2.3.4")
    assert opened.contact is not None
    assert values_of(opened.contact) == {"plan": ("pro", "verified")}
    with pytest.raises(IdentityError):
        actions.check_proof(acme.widget, {**identity, "attributes": {"plan": "gold"}})
    refused = do_open_visitor(acme.widget, None, invite=None, ip="1.2.3.4",
                              identity={**identity, "attributes": {"seats": "x"}})
    assert refused.refused is not None and refused.refused.code == "bad_value"
