"""M8, the sidebar's last pieces: an operator names an unverified person (two companies,
verified contacts refused, bad names refused with nothing stored, the other consoles told),
the country from the operator's own GeoIP database at collect time (the address never
stored), and the person's tickets in the history."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.contacts.actions import do_claim_email, do_identify
from plug2support.contacts.identity import expected_hash
from plug2support.contacts.models import NAME_MAX, Contact
from plug2support.conversations.models import Conversation, Ticket
from plug2support.realtime.hub import hub
from plug2support.realtime.topics import company_topic
from plug2support.widgets import geoip
from plug2support.widgets.models import PageVisit, SiteVisitor, Visitor
from plug2support.widgets.names import generated_name

from .conftest import Tenant, logged_in_client
from .geoip import FRANCE_ADDRESS, JAPAN_ADDRESS, UNKNOWN_ADDRESS, write_country_db


@pytest.fixture(autouse=True)
def _fresh_geoip() -> Iterator[None]:
    geoip.forget_readers()  # each test points GEOIP_PATH at its own file (or none)
    yield
    geoip.forget_readers()


def _session(tenant: Tenant, address: str = "127.0.0.1", **body: Any) -> Visitor:
    answer = Client().post(f"/widget/api/{tenant.widget.key}/session", json.dumps(body),
                           content_type="application/json", REMOTE_ADDR=address)
    assert answer.status_code == 200, answer.content
    return Visitor.objects.get(pk=answer.json()["visitor"]["id"])


def _conversation(tenant: Tenant, visitor: Visitor, **fields: Any) -> Conversation:
    return Conversation.objects.create(company=tenant.company, widget=tenant.widget,
                                       visitor=visitor, **fields)


def _rename(client: Client, conversation: Conversation, name: object) -> Any:
    return client.post(f"/console/conversations/{conversation.pk}/name",
                       {} if name is None else {"name": name})


def _list_names(client: Client) -> dict[int, str]:
    answer = client.get("/inbox/list", {"view": "all"})
    assert answer.status_code == 200
    return {c["id"]: c["visitor"]["name"] for c in answer.json()["conversations"]}


# --- the operator names a person -------------------------------------------------------

def test_operator_names_an_anonymous_visitor_and_every_console_is_told(
        acme: Tenant, globex: Tenant, monkeypatch: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    visitor = _session(acme)
    earlier = _conversation(acme, visitor, stage="resolved")
    current = _conversation(acme, visitor)
    client = logged_in_client(acme.operators[0])
    published: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(hub, "publish", lambda topic, payload: published.append((topic, payload)))
    with django_capture_on_commit_callbacks(execute=True):
        answer = _rename(client, current, "  Ada \t Lovelace \n")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["who"]["name"] == "Ada Lovelace"  # stripped, inner white space one space
    assert data["who"]["contact"] is not None and data["who"]["name_editable"] is True
    contact = Contact.objects.get(pk=data["who"]["contact"]["id"])
    assert (contact.company_id, contact.verified, contact.email) == (acme.company.pk, False, "")
    # The consoles: a new summary of each of the person's open conversations.
    summaries = {p["conversation"]["id"]: p["conversation"]["visitor"]["name"]
                 for t, p in published if p["type"] == "conversation"}
    assert summaries == {current.pk: "Ada Lovelace", earlier.pk: "Ada Lovelace"}
    assert {t for t, p in published if p["type"] == "conversation"} == {
        company_topic(acme.company.pk)}
    # The inbox list (its own reading of the summary) and another operator's sidebar.
    assert _list_names(logged_in_client(acme.operators[1]))[current.pk] == "Ada Lovelace"
    other = logged_in_client(acme.operators[1]).get(
        f"/console/conversations/{current.pk}/sidebar.json").json()
    assert other["who"]["name"] == "Ada Lovelace"
    # Cleared: back to the generated name.
    assert _rename(client, current, "").json()["who"]["name"] == generated_name(visitor.pk)
    assert _list_names(client)[current.pk] == generated_name(visitor.pk)


def test_another_companys_conversation_is_not_found_and_nothing_is_named(
        acme: Tenant, globex: Tenant) -> None:
    visitor = _session(acme)
    current = _conversation(acme, visitor)
    outsider = logged_in_client(globex.operators[0])
    assert _rename(outsider, current, "Mallory").status_code == 404
    assert _rename(outsider, Conversation(pk=10 ** 9), "Mallory").status_code == 404
    assert not Contact.objects.exists()
    visitor.refresh_from_db()
    assert visitor.name == ""
    # Only POST; GET is not an edit.
    assert logged_in_client(acme.operators[0]).get(
        f"/console/conversations/{current.pk}/name").status_code == 405


def test_a_verified_contacts_name_is_the_sites_and_is_refused(acme: Tenant) -> None:
    visitor = _session(acme)
    do_identify(visitor, user_id="u-1", user_hash=expected_hash(acme.widget.secret, "u-1"),
                name="Grace Hopper")
    current = _conversation(acme, visitor)
    client = logged_in_client(acme.operators[0])
    sidebar = client.get(f"/console/conversations/{current.pk}/sidebar.json").json()
    assert sidebar["who"]["name_editable"] is False
    assert _list_names(client)[current.pk] == "Grace Hopper"  # identify's name in the list
    answer = _rename(client, current, "Someone Else")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "name_verified"
    assert Contact.objects.get().name == "Grace Hopper"
    visitor.refresh_from_db()
    assert visitor.name == "Grace Hopper"


def test_a_new_name_from_identify_reaches_every_visitor_of_the_person(acme: Tenant) -> None:
    first, second = _session(acme), _session(acme)
    proof = expected_hash(acme.widget.secret, "u-7")
    do_identify(first, user_id="u-7", user_hash=proof, name="Grace")
    do_identify(second, user_id="u-7", user_hash=proof)  # another browser, no name given
    second.refresh_from_db()
    assert second.name == "Grace"
    do_identify(first, user_id="u-7", user_hash=proof, name="Grace Hopper")
    second.refresh_from_db()
    assert second.display_name == "Grace Hopper"


@pytest.mark.parametrize("name", ["x" * (NAME_MAX + 1), "Bad\x00Name", "Bell\x07", None])
def test_a_bad_name_is_refused_with_nothing_stored(acme: Tenant, name: object) -> None:
    visitor = _session(acme)
    current = _conversation(acme, visitor)
    answer = _rename(logged_in_client(acme.operators[0]), current, name)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_name"
    assert answer.json()["error"]["message"]
    assert not Contact.objects.exists()
    visitor.refresh_from_db()
    assert visitor.name == ""


def test_a_named_unverified_contact_keeps_its_name_when_the_visitor_gives_an_address(
        acme: Tenant) -> None:
    visitor = _session(acme)
    current = _conversation(acme, visitor)
    client = logged_in_client(acme.operators[0])
    named = _rename(client, current, "Ada").json()["who"]["contact"]["id"]
    # The offline form: the same person, the same contact, now with an address.
    assert do_claim_email(visitor, "ada@example.com").pk == named
    contact = Contact.objects.get()
    assert (contact.name, contact.email) == ("Ada", "ada@example.com")
    # An unverified contact that has an address is renamed in place.
    assert _rename(client, current, "Ada L.").json()["who"]["contact"]["id"] == named
    assert Contact.objects.get().name == "Ada L."


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=NAME_MAX + 20))
def test_any_name_is_stored_collapsed_or_refused_never_a_500(acme: Tenant, name: str) -> None:
    visitor = Visitor.objects.create(widget=acme.widget, token_hash=secrets.token_hex(32))
    current = _conversation(acme, visitor)
    answer = _rename(logged_in_client(acme.operators[0]), current, name)
    assert answer.status_code in (200, 400), answer.content
    visitor.refresh_from_db()
    if answer.status_code == 200:
        assert visitor.name == " ".join(name.split())
        assert answer.json()["who"]["name"] == visitor.display_name
    else:
        assert answer.json()["error"]["code"] == "invalid_name"
        assert visitor.name == ""


# --- the country from GeoIP --------------------------------------------------------------

def _stored_anywhere(address: str) -> list[str]:
    """Every column of every row of the product's models that holds `address` (the
    visitor, site visitor and page visit rows first of all)."""
    found = []
    for model in apps.get_models():
        for row in model._default_manager.values():
            found += [f"{model.__name__}.{k}" for k, v in row.items() if address in str(v)]
    return found


def test_the_country_is_looked_up_at_collect_time_and_the_address_is_not_kept(
        acme: Tenant, globex: Tenant, settings: Any, tmp_path: Path) -> None:
    settings.GEOIP_PATH = str(write_country_db(tmp_path / "countries.mmdb"))
    Client().post(f"/widget/api/{acme.widget.key}/pageview", json.dumps(
        {"vid": "vid-12345678", "url": "https://shop.example/a", "title": "a"}),
        content_type="text/plain", REMOTE_ADDR=FRANCE_ADDRESS)
    visitor = _session(acme, FRANCE_ADDRESS, vid="vid-12345678")
    SiteVisitor.objects.filter(vid="vid-12345678").update(visitor=visitor)
    assert (visitor.country, visitor.country_name) == ("FR", "France")
    current = _conversation(acme, visitor)
    where = logged_in_client(acme.operators[0]).get(
        f"/console/conversations/{current.pk}/sidebar.json").json()["where"]
    assert where["country"] == {"configured": True, "iso_code": "FR", "name": "France"}
    assert PageVisit.objects.filter(site_visitor__visitor=visitor).exists()
    assert _stored_anywhere(FRANCE_ADDRESS) == []
    # IPv6, and an address the database does not know: not collected, no error.
    assert _session(acme, JAPAN_ADDRESS).country == "JP"
    unknown = _session(acme, UNKNOWN_ADDRESS)
    assert (unknown.country, unknown.country_name) == ("", "")


def test_a_city_database_gives_the_country_too(acme: Tenant, settings: Any,
                                               tmp_path: Path) -> None:
    settings.GEOIP_PATH = str(write_country_db(tmp_path / "city.mmdb", "GeoLite2-City"))
    assert _session(acme, FRANCE_ADDRESS).country == "FR"


def test_without_a_database_the_country_is_not_collected(acme: Tenant, settings: Any) -> None:
    settings.GEOIP_PATH = ""
    visitor = _session(acme, FRANCE_ADDRESS)
    current = _conversation(acme, visitor)
    where = logged_in_client(acme.operators[0]).get(
        f"/console/conversations/{current.pk}/sidebar.json").json()["where"]
    assert where["country"] == {"configured": False, "iso_code": None, "name": None}


@pytest.mark.parametrize("content", [None, b"not a MaxMind database at all" * 40])
def test_a_missing_or_corrupt_database_is_logged_once_and_never_a_500(
        acme: Tenant, settings: Any, tmp_path: Path, caplog: Any,
        content: bytes | None) -> None:
    path = tmp_path / "broken.mmdb"
    if content is not None:
        path.write_bytes(content)
    settings.GEOIP_PATH = str(path)
    with caplog.at_level(logging.WARNING, logger="plug2support.widgets.geoip"):
        first = _session(acme, FRANCE_ADDRESS)
        _session(acme, FRANCE_ADDRESS)
    assert first.country == ""
    warnings = [r for r in caplog.records if r.name == "plug2support.widgets.geoip"]
    assert len(warnings) == 1 and str(path) not in warnings[0].getMessage()
    current = _conversation(acme, first)
    answer = logged_in_client(acme.operators[0]).get(
        f"/console/conversations/{current.pk}/sidebar.json")
    assert answer.status_code == 200
    assert answer.json()["where"]["country"]["name"] is None


# --- the person's tickets -----------------------------------------------------------------

def test_history_lists_the_persons_tickets_of_its_company_only(acme: Tenant,
                                                               globex: Tenant) -> None:
    visitor = _session(acme)
    do_claim_email(visitor, "ada@example.com")
    earlier = _conversation(acme, visitor, stage="resolved")
    current = _conversation(acme, visitor)
    # Another visitor of the same person (another browser): theirs too.
    again = _session(acme)
    do_claim_email(again, "ada@example.com")
    elsewhere = _conversation(acme, again)
    old = Ticket.objects.create(company=acme.company, conversation=earlier, title="Refund")
    now = Ticket.objects.create(company=acme.company, conversation=current, title="Ship it",
                                kind="issue")
    other = Ticket.objects.create(company=acme.company, conversation=elsewhere, title="Other")
    stranger = _conversation(acme, _session(acme))
    Ticket.objects.create(company=acme.company, conversation=stranger, title="Not theirs")
    foreign_visitor = _session(globex)
    Ticket.objects.create(company=globex.company, title="Globex's",
                          conversation=_conversation(globex, foreign_visitor))
    data = logged_in_client(acme.operators[0]).get(
        f"/console/conversations/{current.pk}/sidebar.json").json()
    assert {h["id"] for h in data["history"]} == {earlier.pk, elsewhere.pk}
    tickets = {t["id"]: t for t in data["tickets"]}
    assert set(tickets) == {old.pk, now.pk, other.pk}
    assert tickets[now.pk]["title"] == "Ship it"
    assert tickets[now.pk]["stage_label"] == "Open"
    assert tickets[now.pk]["url"] == f"/tickets/?tracker=product_assist#ticket-{now.pk}"
    assert tickets[old.pk]["url"] == f"/tickets/?tracker=active#ticket-{old.pk}"
    assert tickets[old.pk]["conversation"] == earlier.pk
    page = logged_in_client(acme.operators[0]).get("/tickets/?tracker=active")
    assert f'id="ticket-{old.pk}"' in page.content.decode()
