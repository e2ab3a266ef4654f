"""M7: a person's own saved views, and C1's alert preferences page."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.saved_views import check_saved_view
from plug2support.conversations.inbox import Filters
from plug2support.conversations.models import SavedView
from plug2support.notifications.alerts import preferences_of

from .conftest import Tenant, logged_in_client


def test_a_person_saves_the_current_filters_as_a_named_view(acme: Tenant, globex: Tenant) -> None:
    alice = logged_in_client(acme.operators[0])
    saved = alice.post("/inbox/views", {"name": " Urgent mine ", "view": "mine",
                                        "priority": "3", "csrfmiddlewaretoken": "x",
                                        "unknown": "dropped"})
    assert saved.status_code == 201
    view = saved.json()["view"]
    assert view["name"] == "Urgent mine" and view["filters"] == {"view": "mine", "priority": "3"}
    # Shown on the inbox page, to Alice only.
    assert alice.get("/inbox/").context["inbox_state"]["saved_views"] == [view]
    bob = logged_in_client(acme.operators[1])
    assert bob.get("/inbox/").context["inbox_state"]["saved_views"] == []
    # The same name again, or filters the list would refuse: refused, naming why.
    again = alice.post("/inbox/views", {"name": "Urgent mine"})
    assert again.status_code == 400 and again.json()["error"]["code"] == "name_taken"
    bad = alice.post("/inbox/views", {"name": "Odd", "stage": "nonsense"})
    assert bad.json()["error"]["code"] == "bad_filter"
    assert alice.post("/inbox/views", {"name": ""}).json()["error"]["code"] == "bad_name"
    # Nobody else deletes it (another person, another company's): not found.
    assert bob.post(f"/inbox/views/{view['id']}/delete").status_code == 404
    other = logged_in_client(globex.operators[0])
    assert other.post(f"/inbox/views/{view['id']}/delete").status_code == 404
    assert alice.post(f"/inbox/views/{view['id']}/delete").json() == {"deleted": view["id"]}
    assert not SavedView.objects.exists()


def test_each_person_chooses_their_alerts(acme: Tenant) -> None:
    alice = logged_in_client(acme.operators[0])
    page = alice.get("/settings/alerts/")
    assert page.status_code == 200 and "I am mentioned in a note" in page.content.decode()
    alice.post("/settings/alerts/", {"new_conversation.sound": "on", "mention.email": "on"})
    mine = preferences_of(acme.membership(acme.operators[0]).pk)
    assert mine["new_conversation"] == {"sound": True, "desktop": False, "email": False,
                                       "push": False}
    assert mine["mention"] == {"sound": False, "desktop": False, "email": True, "push": False}
    # Bob keeps the defaults; the inbox page carries each person's own.
    bob = preferences_of(acme.membership(acme.operators[1]).pk)
    assert bob["new_conversation"] == {"sound": True, "desktop": True, "email": False,
                                       "push": True}
    assert alice.get("/inbox/").context["inbox_state"]["alerts"] == mine


# Read-only over the fixture's rows (a refusal writes nothing): one tenant for every example.
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.none(), st.integers(), st.text(max_size=80)),
       params=st.dictionaries(st.sampled_from(["view", "stage", "owner", "tag", "priority",
                                               "widget", "q", "other"]),
                              st.one_of(st.text(max_size=30), st.integers(-5, 10**20)),
                              max_size=6))
def test_any_name_and_filters_are_saved_as_the_list_reads_them_or_refused(
        acme: Tenant, name: Any, params: dict[str, Any]) -> None:
    membership = acme.membership(acme.operators[0])
    try:
        text, filters = check_saved_view(membership, name, params)
    except ConversationError as refused:
        assert refused.code in {"bad_name", "bad_filter", "name_taken", "too_many_views"}
        return
    assert 1 <= len(text) <= 60 and set(filters) <= {"view", "stage", "owner", "tag",
                                                     "priority", "widget", "q"}
    Filters.parse(filters)  # what was kept, the list accepts


def test_a_control_character_in_a_name_or_a_filter_is_refused_not_stored(acme: Tenant) -> None:
    # PostgreSQL's text cannot hold a NUL: it was a 500 there (outside review).
    alice = logged_in_client(acme.operators[0])
    named = alice.post("/inbox/views", {"name": "\x00nul"})
    assert named.status_code == 400 and named.json()["error"]["code"] == "bad_name"
    searched = alice.post("/inbox/views", {"name": "Mine", "q": "x\x00y"})
    assert searched.status_code == 400 and searched.json()["error"]["code"] == "bad_filter"
    assert not SavedView.objects.exists()
