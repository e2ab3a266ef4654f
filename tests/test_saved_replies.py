"""Saved replies (SPEC M1, issue 18 point 1): who manages which, what a save refuses, the
composer's search and use (contract 1), with two companies throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db.models import F
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from plug2support.attachments.models import Attachment
from plug2support.contacts.actions import do_claim_email
from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation
from plug2support.replies.actions import (
    REPLIES_PER_COMPANY,
    ReplyError,
    do_create_saved_reply,
    do_delete_saved_reply,
    do_update_saved_reply,
    do_use_saved_reply,
)
from plug2support.replies.models import SavedReply, SavedReplyFile
from plug2support.replies.variables import VARIABLES, fill, unknown_variables

from .conftest import Tenant, logged_in_client
from .test_attachments import PDF, files_in, media, png_bytes, upload  # noqa: F401 (fixture)


def conversation_of(tenant: Tenant, email: str = "", name: str = "") -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    if email:
        do_claim_email(visitor, email, name or None)
    posted = do_post_visitor_message(visitor, client_id="v1", body="Hello?")
    return Conversation.objects.select_related("visitor").get(pk=posted.event.conversation_id)


def create(tenant: Tenant, user: Any = None, **fields: Any) -> SavedReply:
    values = {"scope": "personal", "title": "Thanks", "shortcut": "thanks",
              "body": "Thanks {{contact.name|there}}!"} | fields
    return do_create_saved_reply(tenant.membership(user or tenant.owner), **values)


# --- who manages which ---------------------------------------------------------------------

def test_an_admin_saves_a_company_reply_and_an_operator_may_not(acme: Tenant) -> None:
    reply = create(acme, scope="company")
    assert reply.owner_id is None and reply.scope == "company"
    assert reply.created_by == acme.owner
    with pytest.raises(ReplyError) as refused:
        create(acme, acme.operators[0], scope="company", shortcut="other")
    assert refused.value.code == "forbidden"
    operator = acme.membership(acme.operators[0])
    with pytest.raises(ReplyError):
        do_update_saved_reply(operator, reply, title="Mine now", shortcut="thanks", body="x")
    with pytest.raises(ReplyError):
        do_delete_saved_reply(operator, reply)
    assert SavedReply.objects.get(pk=reply.pk).title == "Thanks"


def test_an_operator_manages_their_own_and_nobody_else_touches_it(acme: Tenant,
                                                                  globex: Tenant) -> None:
    alice, bob = acme.operators
    mine = create(acme, alice, shortcut="hello", body="Hi")
    assert mine.owner_id == alice.pk and mine.scope == "personal"
    for stranger in (acme.membership(bob), acme.membership(acme.owner)):
        with pytest.raises(ReplyError) as refused:
            do_update_saved_reply(stranger, mine, title="x", shortcut="hello", body="x")
        assert refused.value.code == "not_found"  # someone's own is not even there
    with pytest.raises(ReplyError):
        do_delete_saved_reply(globex.membership(globex.owner), mine)
    updated = do_update_saved_reply(acme.membership(alice), mine, title="Hello there",
                                    shortcut="/Hello-2", body="Hi {{operator.name}}")
    assert (updated.title, updated.shortcut, updated.updated_by) == (
        "Hello there", "hello-2", alice)
    do_delete_saved_reply(acme.membership(alice), mine)
    assert not SavedReply.objects.filter(pk=mine.pk).exists()


# --- what a save refuses -------------------------------------------------------------------

def test_an_unknown_variable_is_refused_by_name(acme: Tenant) -> None:
    with pytest.raises(ReplyError) as refused:
        create(acme, body="Call {{contact.phone}} or {{ contact.nmae | you }}")
    assert refused.value.code == "unknown_variable" and refused.value.field == "body"
    assert "Unknown variable contact.phone, contact.nmae" in refused.value.message
    assert not SavedReply.objects.exists()


def test_a_shortcut_taken_is_refused_and_a_personal_one_may_not_shadow_the_company(
        acme: Tenant, globex: Tenant) -> None:
    create(acme, scope="company", shortcut="refund")
    alice, bob = acme.operators
    with pytest.raises(ReplyError) as refused:
        create(acme, scope="company", shortcut="refund", title="Again")
    assert refused.value.code == "shortcut_taken"
    with pytest.raises(ReplyError) as refused:
        create(acme, alice, shortcut="REFUND")
    assert "company's replies" in refused.value.message
    create(acme, alice, shortcut="mine")
    with pytest.raises(ReplyError):
        create(acme, alice, shortcut="mine", title="Twice")
    create(acme, bob, shortcut="mine")  # each person's own are their own
    with pytest.raises(ReplyError) as refused:
        create(acme, scope="company", shortcut="mine")  # would be shadowed for Alice and Bob
    assert "teammate's" in refused.value.message
    create(globex, scope="company", shortcut="refund")  # another company's are not counted
    assert SavedReply.objects.filter(company=acme.company).count() == 3


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"title": ""}, "invalid_title", "title"),
    ({"title": "x" * 101}, "invalid_title", "title"),
    ({"shortcut": ""}, "invalid_shortcut", "shortcut"),
    ({"shortcut": "x" * 33}, "invalid_shortcut", "shortcut"),
    ({"shortcut": "two words"}, "invalid_shortcut", "shortcut"),
    ({"shortcut": "café"}, "invalid_shortcut", "shortcut"),
    ({"body": "  "}, "invalid_body", "body"),
    ({"body": "x" * 5001}, "invalid_body", "body"),
    ({"title": None}, "invalid_title", "title"),
])
def test_limits_have_clear_errors(acme: Tenant, fields: dict[str, Any], code: str,
                                  field: str) -> None:
    with pytest.raises(ReplyError) as refused:
        create(acme, **fields)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_a_company_keeps_at_most_500(acme: Tenant, globex: Tenant) -> None:
    SavedReply.objects.bulk_create(
        SavedReply(company=acme.company, title=f"r{i}", shortcut=f"r{i}", body="x")
        for i in range(REPLIES_PER_COMPANY))
    with pytest.raises(ReplyError) as refused:
        create(acme, acme.operators[0])
    assert refused.value.code == "too_many_replies"
    create(globex)  # the other company's room is its own


def test_files_at_most_five_and_checked_like_uploads(acme: Tenant, media: Path) -> None:  # noqa: F811 (the fixture)
    with pytest.raises(ReplyError) as refused:
        create(acme, files=[upload(f"{i}.png", png_bytes()) for i in range(6)])
    assert refused.value.code == "too_many_files"
    with pytest.raises(ReplyError) as refused:
        create(acme, files=[upload("ok.png", png_bytes()), upload("page.html", b"<html><script>")])
    assert refused.value.field == "new_files" and "page.html" in refused.value.message
    assert not SavedReply.objects.exists() and files_in(media) == []
    reply = create(acme, files=[upload("refund-policy.pdf", PDF)])
    [stored] = reply.files.all()
    assert stored.name == "refund-policy.pdf" and stored.content_type == "application/pdf"
    assert stored.file.name.startswith(f"saved-replies/{acme.company.pk}/")


def test_removing_a_file_and_deleting_a_reply_remove_the_stored_files(
        acme: Tenant, media: Path,  # noqa: F811 (the fixture)
        django_capture_on_commit_callbacks: Any) -> None:
    reply = create(acme, files=[upload("a.png", png_bytes()), upload("b.pdf", PDF)])
    first, second = reply.files.all()
    owner = acme.membership(acme.owner)
    with django_capture_on_commit_callbacks(execute=True):
        do_update_saved_reply(owner, reply, title="T", shortcut="thanks", body="B",
                              remove_files=[str(first.pk)], files=[upload("c.png", png_bytes())])
    assert sorted(f.name for f in reply.files.all()) == ["b.pdf", "c.png"]
    assert len(files_in(media)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        do_delete_saved_reply(owner, reply)
    assert files_in(media) == [] and not SavedReplyFile.objects.exists()


# --- using one -----------------------------------------------------------------------------

def test_using_a_reply_fills_its_variables_for_the_conversation(acme: Tenant) -> None:
    reply = create(acme, scope="company", body=(
        "Hi {{contact.name|there}} ({{contact.email|no address}}), "
        "{{operator.name}} of {{company.name}} here."))
    alice = acme.membership(acme.operators[0])
    named = conversation_of(acme, "jo@example.com", "Jo Doe")
    used = do_use_saved_reply(alice, reply, named)
    assert used.text == "Hi Jo Doe (jo@example.com), Acme Op0 of Acme here."
    unnamed = conversation_of(acme)
    assert do_use_saved_reply(alice, reply, unnamed).text.startswith("Hi there (no address)")
    assert SavedReply.objects.get(pk=reply.pk).usage_count == 2


def test_using_a_reply_copies_its_files_into_uploads_a_message_carries(
        acme: Tenant, globex: Tenant, media: Path) -> None:  # noqa: F811 (the fixture)
    reply = create(acme, scope="company", files=[upload("policy.pdf", PDF)])
    alice = acme.membership(acme.operators[0])
    conversation = conversation_of(acme)
    used = do_use_saved_reply(alice, reply, conversation)
    [attachment] = Attachment.objects.filter(pk__in=used.attachment_ids)
    assert attachment.uploaded_by_user == alice.user and attachment.conversation is None
    assert attachment.name == "policy.pdf" and attachment.file.read() == PDF
    posted = do_post_operator_message(alice, conversation, client_id="m1", body=used.text,
                                      attachments=used.attachment_ids)
    assert [a["name"] for a in posted.event.attachment_payloads] == ["policy.pdf"]  # type: ignore[attr-defined]
    # The saved reply keeps its own file; a second use makes a second copy.
    second = do_use_saved_reply(alice, reply, conversation)
    assert second.attachment_ids != used.attachment_ids and reply.files.count() == 1
    with pytest.raises(ReplyError):
        do_use_saved_reply(globex.membership(globex.owner), reply, conversation)


# --- the endpoints (contract 1) ------------------------------------------------------------

def test_the_search_lists_the_company_and_my_own_prefix_first_then_most_used(
        acme: Tenant, globex: Tenant) -> None:
    alice, bob = acme.operators
    company = create(acme, scope="company", title="Refund policy", shortcut="refund",
                     body="We refund within 30 days.")
    create(acme, scope="company", title="Shipping", shortcut="ship",
           body="Refunds of shipping: see the refund policy.")
    mine = create(acme, alice, title="My refund note", shortcut="myrefund", body="x")
    create(acme, bob, title="Bob's refund", shortcut="bobrefund", body="x")
    create(globex, scope="company", title="Globex refund", shortcut="refund2", body="x")
    SavedReply.objects.filter(shortcut="ship").update(usage_count=F("usage_count") + 9)
    client = logged_in_client(alice)
    found = client.get("/console/saved-replies.json", {"q": "REFUND"}).json()["replies"]
    assert [r["shortcut"] for r in found] == ["refund", "ship", "myrefund"]
    assert found[0] == {"id": company.pk, "title": "Refund policy", "shortcut": "refund",
                        "preview": "We refund within 30 days.", "scope": "company",
                        "attachments": []}
    assert found[2]["scope"] == "personal" and found[2]["id"] == mine.pk
    most_used = client.get("/console/saved-replies.json").json()["replies"]
    assert most_used[0]["shortcut"] == "ship" and len(most_used) == 3
    assert client.get("/console/saved-replies.json", {"q": "/ref"}).json()["replies"][0][
        "shortcut"] == "refund"


def test_use_over_http_and_foreign_or_someone_elses_reply_is_404(
        acme: Tenant, globex: Tenant) -> None:
    alice, bob = acme.operators
    reply = create(acme, scope="company", body="Hello {{contact.name|there}}")
    bobs = create(acme, bob, shortcut="bob", body="Bob's")
    conversation = conversation_of(acme)
    foreign = conversation_of(globex)
    client = logged_in_client(alice)
    answer = client.post(f"/console/saved-replies/{reply.pk}/use",
                         {"conversation": conversation.pk})
    assert answer.status_code == 200
    assert answer.json() == {"text": "Hello there", "attachments": []}
    assert client.post(f"/console/saved-replies/{bobs.pk}/use",
                       {"conversation": conversation.pk}).status_code == 404
    assert client.post(f"/console/saved-replies/{reply.pk}/use",
                       {"conversation": foreign.pk}).status_code == 404
    assert client.post(f"/console/saved-replies/{reply.pk}/use",
                       {"conversation": "x"}).status_code == 404
    assert logged_in_client(globex.owner).post(
        f"/console/saved-replies/{reply.pk}/use",
        {"conversation": foreign.pk}).status_code == 404
    assert client.get(f"/console/saved-replies/{reply.pk}/use").status_code == 405
    assert SavedReply.objects.get(pk=reply.pk).usage_count == 1
    assert Client().get("/console/saved-replies.json").status_code == 302


# --- the settings page ---------------------------------------------------------------------

def test_the_page_lists_both_kinds_and_hides_teammates_own(acme: Tenant,
                                                          globex: Tenant) -> None:
    alice, bob = acme.operators
    create(acme, scope="company", title="Company greeting", shortcut="hi")
    create(acme, alice, title="Alice's closing", shortcut="bye")
    create(acme, bob, title="Bob's secret", shortcut="bobs")
    create(globex, scope="company", title="Globex thing", shortcut="gx")
    page = logged_in_client(alice).get("/settings/saved-replies/").content.decode()
    assert "Company greeting" in page and "Alice&#x27;s closing" in page
    assert "Bob&#x27;s secret" not in page
    assert "Globex thing" not in page
    assert 'name="scope"' not in page  # an operator saves their own only


def test_the_page_creates_and_reports_errors_on_the_field(acme: Tenant, media: Path) -> None:  # noqa: F811 (the fixture)
    client = logged_in_client(acme.owner)
    refused = client.post("/settings/saved-replies/", {
        "scope": "company", "title": "Phone", "shortcut": "phone",
        "body": "Call {{contact.phone}}"})
    assert refused.status_code == 400
    assert "Unknown variable contact.phone" in refused.content.decode()
    made = client.post("/settings/saved-replies/", {
        "scope": "company", "title": "Policy", "shortcut": "policy", "body": "See attached.",
        "new_files": [upload("policy.pdf", PDF), upload("dot.png", png_bytes())]})
    assert made.status_code == 302
    reply = SavedReply.objects.get(shortcut="policy")
    assert reply.owner_id is None and reply.files.count() == 2
    edit_url = f"/settings/saved-replies/{reply.pk}/"
    assert "policy.pdf" in client.get(edit_url).content.decode()
    assert logged_in_client(acme.operators[0]).post(
        edit_url, {"title": "x", "shortcut": "x", "body": "x"}).status_code == 302
    assert SavedReply.objects.get(pk=reply.pk).title == "Policy"
    # Another company's id names nothing.
    from .conftest import make_tenant
    other = make_tenant("Initech", operators=0)
    assert logged_in_client(other.owner).get(edit_url).status_code == 404
    assert logged_in_client(other.owner).post(
        f"/settings/saved-replies/{reply.pk}/delete").status_code == 404
    assert client.post(f"/settings/saved-replies/{reply.pk}/delete").status_code == 302
    assert not SavedReply.objects.filter(pk=reply.pk).exists()


# --- hypothesis: the variable parser and the save ------------------------------------------

_names = st.sampled_from([*VARIABLES, "contact.phone", "x", "", "contact.name "])
_fragments = st.one_of(
    st.text(max_size=20),
    st.builds(lambda n, f: "{{" + n + ("|" + f if f is not None else "") + "}}", _names,
              st.none() | st.text(alphabet=st.characters(blacklist_characters="{}"),
                                  max_size=10)),
    st.sampled_from(["{{", "}}", "{", "}", "|"]))


@given(st.lists(_fragments, max_size=8).map("".join),
       st.dictionaries(st.sampled_from(VARIABLES), st.text(max_size=10)))
def test_fill_never_leaves_a_known_variable_and_knows_what_it_does_not_know(
        body: str, values: dict[str, str]) -> None:
    filled = fill(body, values)
    assert isinstance(filled, str)
    for name in unknown_variables(body):
        assert name not in VARIABLES
    if not unknown_variables(body) and "{{" not in body:
        assert filled == body
    if unknown_variables(body) == [] and all(v.strip() for v in values.values()):
        for name in values:
            assert "{{" + name + "}}" not in filled


@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(max_size=120), shortcut=st.text(max_size=40),
       body=st.lists(_fragments, max_size=6).map("".join))
def test_the_save_form_stores_or_refuses_clearly_whatever_it_gets(
        acme: Tenant, title: str, shortcut: str, body: str) -> None:
    client = logged_in_client(acme.operators[0])
    response = client.post("/settings/saved-replies/",
                           {"title": title, "shortcut": shortcut, "body": body})
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        reply = SavedReply.objects.get(owner=acme.operators[0])
        assert unknown_variables(reply.body) == [] and len(reply.title) <= 100
        reply.delete()
    else:
        assert 'role="alert"' in response.content.decode()


def test_the_demo_ships_saved_replies_once(db: Any, media: Path) -> None:  # noqa: F811 (the fixture)
    from plug2support.ops.demo import load_demo

    demo = load_demo()
    load_demo()  # idempotent
    replies = {r.shortcut: r for r in SavedReply.objects.filter(company=demo.company)}
    assert set(replies) == {"hello", "bye", "refund", "brew"}
    assert "{{contact.name|there}}" in replies["hello"].body
    assert [f.name for f in replies["refund"].files.all()] == ["refund-policy.txt"]
    assert replies["brew"].owner is not None and replies["hello"].owner is None
