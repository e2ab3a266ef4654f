"""The console keeps a filtered inbox list current from live summaries alone: a summary
joins or leaves the list by the views it names, and takes its place by its sort key — a
raised priority moves it up, a claim takes it out of Unassigned, a claim by me puts it in
my Mine view, a new conversation arrives in place (D9, D10; docs/protocol.md §1, §6)."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.teamwork import do_claim, do_set_priority
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation

from ..conftest import Tenant
from .conftest import login

SHOWN = ("() => [...document.querySelectorAll('#conversations a.conv')]"
         ".map((a) => Number(a.dataset.id))")


def start(tenant: Tenant, body: str, client_id: str) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id=client_id, body=body)
    return Conversation.objects.get(pk=posted.event.conversation_id)


def shows(page: Page, ids: list[int]) -> None:
    """The list shows these conversations, in this order (waiting for the live frames)."""
    page.wait_for_function(f"(ids) => JSON.stringify(({SHOWN})()) === JSON.stringify(ids)",
                           arg=ids)


def test_a_filtered_list_follows_live_summaries_by_their_views_and_sort_keys(
        browser: Browser, live: str, tenants: tuple[Tenant, Tenant]) -> None:
    acme, globex = tenants
    alice_op, bob_op = acme.operators
    alice_member, bob = acme.membership(alice_op), acme.membership(bob_op)
    first = start(acme, "first question", "v1")
    second = start(acme, "second question", "v2")
    alice = login(browser, live, alice_op.email)
    errors: list[str] = []
    alice.on("pageerror", lambda error: errors.append(str(error)))
    alice.reload()  # the modules run again, with errors recorded
    expect(alice.locator("#live")).to_have_text("live")

    # The filtered list has come (All open shows the same two in the same order).
    with alice.expect_response(lambda r: "/inbox/list" in r.url and "unassigned" in r.url):
        alice.select_option("#f-view", "unassigned")
    shows(alice, [first.pk, second.pk])  # the longest wait first
    do_set_priority(bob, second, 3)
    shows(alice, [second.pk, first.pk])  # urgent first
    do_claim(bob, first)
    shows(alice, [second.pk])  # served: no longer unassigned
    third = start(acme, "third question", "v3")
    start(globex, "not ours", "g1")
    shows(alice, [second.pk, third.pk])  # new, in its place

    with alice.expect_response(lambda r: "/inbox/list" in r.url and "mine" in r.url):
        alice.select_option("#f-view", "mine")
    shows(alice, [])
    do_claim(alice_member, third)
    shows(alice, [third.pk])  # mine now
    do_claim(alice_member, second)
    shows(alice, [second.pk, third.pk])
    expect(alice.locator("#no-results")).to_be_hidden()
    assert errors == []
