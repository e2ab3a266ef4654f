"""Service targets (K3): the settings page — admins only, scoped to the company, a zero
target refused, a rule matching nothing saved with a warning, bad input never a 500 — and
the inbox's SLA fields and "time left" order."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.conversations.inbox import Filters, InboxError, inbox_summaries
from plug2support.conversations.models import Conversation, Priority
from plug2support.sla.models import SlaPolicy

from .conftest import Tenant, logged_in_client
from .test_sla_clocks import MON, at, open_chat, policy

URL = "/settings/service-targets/"


def form(**values: Any) -> dict[str, Any]:
    return {"name": "Standard", "first_response": "30", "first_response_unit": "minutes",
            "next_response": "", "next_response_unit": "minutes", "resolution": "8",
            "resolution_unit": "hours", "measure": "business", "warn_percent": "20",
            "warn_minutes": "", "applies_to": "all", "priority": "", "org": "", "tag": "",
            **values}


def test_an_admin_saves_a_policy_and_sees_it(acme: Tenant) -> None:
    client = logged_in_client(acme.owner)
    response = client.post(URL, form(), follow=True)
    assert response.status_code == 200
    saved = SlaPolicy.objects.get(company=acme.company)
    assert (saved.first_response_minutes, saved.resolution_minutes) == (30, 480)
    assert saved.business_hours and saved.warn_percent == 20
    page = response.content.decode()
    assert "Policy &#x27;Standard&#x27; saved." in page and "30 min" in page


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_zero_or_negative_target_is_refused(acme: Tenant, value: str) -> None:
    response = logged_in_client(acme.owner).post(URL, form(first_response=value))
    assert response.status_code == 400
    assert "A target must be more than zero." in response.content.decode()
    assert not SlaPolicy.objects.exists()


def test_no_target_at_all_is_refused(acme: Tenant) -> None:
    response = logged_in_client(acme.owner).post(URL, form(first_response="", resolution=""))
    assert response.status_code == 400 and "Give at least one target." in response.content.decode()


def test_a_rule_matching_nothing_is_saved_with_a_warning(acme: Tenant) -> None:
    open_chat(acme, at(MON, 9))  # a Low-priority conversation only
    response = logged_in_client(acme.owner).post(
        URL, form(applies_to="priority", priority=str(Priority.URGENT)), follow=True)
    assert SlaPolicy.objects.get().priority == Priority.URGENT
    assert "no open conversation has this priority today" in response.content.decode()
    response = logged_in_client(acme.owner).post(
        URL, form(name="Low", applies_to="priority", priority=str(Priority.LOW)), follow=True)
    assert "today" not in response.content.decode().split("saved.")[1][:200]


def test_two_companies_foreign_ids_404(acme: Tenant, globex: Tenant) -> None:
    theirs = policy(globex)
    client = logged_in_client(acme.owner)
    assert client.post(f"{URL}{theirs.pk}/delete").status_code == 404
    assert SlaPolicy.objects.filter(pk=theirs.pk).exists()
    # Another company's tag is not a choice here.
    from plug2support.conversations.models import Tag
    tag = Tag.objects.create(company=globex.company, name="VIP")
    response = client.post(URL, form(applies_to="tag", tag=str(tag.pk)))
    assert response.status_code == 400 and not SlaPolicy.objects.filter(
        company=acme.company).exists()
    assert "Standard" not in client.get(URL).content.decode().split("New policy")[0]
    # Operators (not admins) get no page.
    assert logged_in_client(acme.operators[0]).get(URL).status_code in (403, 404, 302)
    mine = policy(acme, name="Mine")
    assert client.post(f"{URL}{mine.pk}/delete").status_code == 302
    assert not SlaPolicy.objects.filter(pk=mine.pk).exists()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(
    st.sampled_from(list(form())),
    st.one_of(st.text(max_size=30), st.integers(-10**12, 10**12).map(str)), max_size=8))
def test_any_input_never_500(acme: Tenant, changes: dict[str, str]) -> None:
    client: Client = logged_in_client(acme.owner)
    response = client.post(URL, form(**changes))
    assert response.status_code in (302, 400)


def test_the_inbox_carries_sla_fields_and_sorts_by_time_left(acme: Tenant) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    policy(acme, first_response_minutes=60)
    late = open_chat(acme, at(MON, 9, 30))
    soon = open_chat(acme, at(MON, 9))
    plain = open_chat(acme, at(MON, 9, 10))
    Conversation.objects.filter(pk=plain.pk).update(sla=None, sla_due_at=None)
    membership = acme.membership(acme.owner)
    with CaptureQueriesContext(connection) as queries:
        rows = inbox_summaries(membership, Filters.parse({"sort": "time_left"}))
    assert len(queries) == 1  # the SLA fields are columns of the row: no query a row
    assert [r["id"] for r in rows] == [soon.pk, late.pk, plain.pk]
    assert rows[0]["sla_due_at"] == at(MON, 10).isoformat()
    assert rows[0]["sla"]["target"] == "first_response" and rows[2]["sla"] is None
    with pytest.raises(InboxError):
        Filters.parse({"sort": "nonsense"})
    response = logged_in_client(acme.owner).get("/inbox/list?sort=bogus")
    assert response.status_code == 400
