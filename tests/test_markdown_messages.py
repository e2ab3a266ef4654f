"""The team writes Markdown (issue 18 point 2, contract 4): messages and notes are rendered
once, when stored, into the event's `html` (sanitised: raw HTML stays text), which every
payload carries; null for a visitor's message and a system event. E-mailed replies use it
for their HTML part and keep the Markdown as the text part."""

from __future__ import annotations

from typing import Any

from django.core import mail
from django.test import Client

from plug2support.conversations.actions.messages import (
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.started import do_start_email_conversation
from plug2support.conversations.actions.teamwork import do_add_note
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation, Event
from plug2support.conversations.serializers import event_payload
from plug2support.knowledge.markdown import render_chat_markdown

from .conftest import Tenant, body_of, logged_in_client

SCRIPT = "<script>alert('x')</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))"


def test_the_chat_flavour_renders_the_composers_formatting_and_nothing_more() -> None:
    html = render_chat_markdown("**bold** _it_ `code` ~~old~~ https://example.com\nnext\n\n"
                                "- one\n- two\n\n```\nblock\n```\n\n# not a heading\n"
                                "![img](https://example.com/a.png)")
    assert "<strong>bold</strong> <em>it</em> <code>code</code> <s>old</s>" in html
    assert ('<a href="https://example.com" target="_blank" rel="noopener noreferrer '
            'nofollow">https://example.com</a><br>') in html
    assert "<ul>\n<li>one</li>" in html and "<pre><code>block\n</code></pre>" in html
    assert "<h1" not in html and "# not a heading" in html and "<img" not in html
    # An image is a link to it, named by its text (shown, it would tell its server who reads).
    assert ('<a href="https://example.com/a.png" target="_blank" rel="noopener noreferrer '
            'nofollow">img</a>') in html and "!" not in html


def test_raw_html_and_script_links_stay_inert_text() -> None:
    html = render_chat_markdown(SCRIPT)
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert "&lt;script&gt;" in html and "[x](javascript:alert(1))" in html  # text, not a link


def test_a_message_and_a_note_carry_html_a_visitor_message_and_system_events_do_not(
        acme: Tenant, client: Client) -> None:
    visitor, token = do_identify_visitor(acme.widget, None)
    asked = do_post_visitor_message(visitor, client_id="v", body="**not rendered**")
    conversation = Conversation.objects.get(pk=asked.event.conversation_id)
    alice = acme.membership(acme.operators[0])
    reply = do_post_operator_message(alice, conversation, client_id="m",
                                     body="See **this** [page](https://example.com/help)")
    note = do_add_note(alice, conversation, client_id="n", body=f"_internal_ {SCRIPT}")
    stored = {e.seq: e for e in Event.objects.filter(conversation=conversation)}
    assert stored[asked.event.seq].html is None
    assert stored[reply.event.seq].html == (
        '<p>See <strong>this</strong> <a href="https://example.com/help" target="_blank" '
        'rel="noopener noreferrer nofollow">page</a></p>')
    assert event_payload(reply.event)["html"] == stored[reply.event.seq].html
    note_html = stored[note.event.seq].html or ""
    assert "<em>internal</em>" in note_html and "<script" not in note_html
    claimed = [e for e in stored.values() if e.kind == "claimed"]
    assert claimed and all(event_payload(e)["html"] is None for e in claimed)
    # The widget's history and the console's page carry the same key.
    events = client.get(f"/widget/api/{acme.widget.key}/messages?after=0",
                        headers={"Authorization": f"Bearer {token}"}).json()["events"]
    by_kind = {(e["kind"], e["sender"]): e for e in events}
    assert by_kind[("message", "visitor")]["html"] is None
    assert "<strong>this</strong>" in by_kind[("message", "operator")]["html"]
    assert all(e["kind"] != "note" for e in events)
    page = logged_in_client(alice.user).get(f"/inbox/{conversation.pk}/").content.decode()
    assert "\\u003Cstrong\\u003Ethis\\u003C/strong\\u003E" in page  # in json_script


def test_the_inbox_preview_of_the_teams_markdown_is_its_text_without_the_marks(
        acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    asked = do_post_visitor_message(visitor, client_id="v", body="Is it **here**?")
    conversation = Conversation.objects.get(pk=asked.event.conversation_id)
    assert conversation.preview == "Is it **here**?"  # the customer's text, as typed
    alice = acme.membership(acme.operators[0])
    do_post_operator_message(alice, conversation, client_id="m",
                             body="It is **on its way**: see [tracking](https://example.com/t)"
                                  " & `AB-12`")
    conversation.refresh_from_db()
    assert conversation.preview == "It is on its way: see tracking & AB-12"


def test_an_emailed_reply_has_the_rendered_html_part_and_the_markdown_text_part(
        acme: Tenant, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        do_start_email_conversation(
            acme.membership(acme.operators[0]), acme.widget, email="jo@customer.example",
            client_id="c1", subject="Your order", body=f"Your order **shipped**. {SCRIPT}")
    [sent] = mail.outbox
    message = sent.message()
    text, html = body_of(message), body_of(message, "html")
    assert "Your order **shipped**." in text
    assert "<strong>shipped</strong>" in html
    assert "<script" not in html and "onerror" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;" in html
