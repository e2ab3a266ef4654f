"""Satisfaction (K2): the rating asked once per resolution, stored once, resent
idempotently, asked again after a reopen; the widget switch; low scores notify; the
comment's limit; the resolution mail's signed link (valid, expired, used twice, altered);
facts and the CSAT numbers; and no input of the rating ever a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Channel, Conversation, Event, EventKind
from plug2support.mail.models import OutboundMail
from plug2support.mail.outbox import compose
from plug2support.notifications.models import Notification
from plug2support.satisfaction.facts import csat_numbers, facts
from plug2support.satisfaction.links import rating_path
from plug2support.satisfaction.models import Rating, RatingRequest
from plug2support.satisfaction.rating import do_rate, request_for_visitor

from .conftest import Tenant


def served_conversation(tenant: Tenant) -> Conversation:
    visitor, _ = do_identify_visitor(tenant.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v1", body="Hello")
    Conversation.objects.filter(pk=posted.event.conversation_id).update(
        assignee=tenant.operators[0])
    return Conversation.objects.get(pk=posted.event.conversation_id)


def resolve(tenant: Tenant, conversation: Conversation) -> RatingRequest | None:
    do_move_stage(tenant.membership(tenant.operators[0]), conversation, "resolved")
    return RatingRequest.objects.filter(conversation=conversation).order_by("-pk").first()


def test_a_resolution_asks_once_and_the_answer_is_stored_once(acme: Tenant) -> None:
    conversation = served_conversation(acme)
    request = resolve(acme, conversation)
    assert request is not None and request.operator_id == acme.operators[0].pk
    asked = Event.objects.get(conversation=conversation, kind=EventKind.RATING_ASKED)
    assert asked.seq == request.seq and not asked.staff_only
    assert asked.body == "How would you rate this conversation?"
    first = do_rate(request, 5, "Great help", "c1")
    assert not first.duplicate
    again = do_rate(request, 5, "Great help", "c1")  # the widget's resend
    assert again.duplicate and again.rating.pk == first.rating.pk
    with pytest.raises(ConversationError) as refused:
        do_rate(request, 1, "", "c2")  # a second answer to the same resolution
    assert refused.value.code == "already_rated"
    assert Rating.objects.count() == 1
    event = Event.objects.get(conversation=conversation, kind=EventKind.RATING)
    assert event.details == {"score": 5, "comment": "Great help", "asked": request.seq}
    assert "Rated 5 of 5" in event.body and not event.staff_only


def test_a_reopen_and_a_new_resolution_ask_again(acme: Tenant) -> None:
    conversation = served_conversation(acme)
    first = resolve(acme, conversation)
    assert first is not None
    do_rate(first, 4, "", "c1")
    do_move_stage(acme.membership(acme.operators[0]), conversation, "needs_response")
    second = resolve(acme, conversation)
    assert second is not None and second.pk != first.pk
    assert second.resolution_id != first.resolution_id
    do_rate(second, 2, "It broke again", "c2")
    assert Rating.objects.filter(conversation=conversation).count() == 2


def test_the_widget_switch_off_asks_nothing(acme: Tenant) -> None:
    acme.widget.csat_enabled = False
    acme.widget.save()
    conversation = served_conversation(acme)
    assert resolve(acme, conversation) is None
    assert not Event.objects.filter(kind=EventKind.RATING_ASKED).exists()


def test_the_widgets_own_question_is_asked(acme: Tenant) -> None:
    acme.widget.csat_question = "Did we help?"
    acme.widget.save()
    request = resolve(acme, served_conversation(acme))
    assert request is not None and request.question == "Did we help?"


def test_another_visitors_or_companys_question_is_not_found(acme: Tenant,
                                                            globex: Tenant) -> None:
    conversation = served_conversation(acme)
    request = resolve(acme, conversation)
    assert request is not None
    assert request_for_visitor(conversation.visitor_id, conversation.pk, request.seq) == request
    stranger = served_conversation(globex)
    for visitor_id, conversation_id, seq in [
            (stranger.visitor_id, conversation.pk, request.seq),  # another company's visitor
            (conversation.visitor_id, stranger.pk, request.seq),
            (conversation.visitor_id, conversation.pk, request.seq + 1), ("x", None, True)]:
        with pytest.raises(ConversationError) as refused:
            request_for_visitor(visitor_id, conversation_id, seq)  # type: ignore[arg-type]
        assert refused.value.code == "not_found"


def test_a_low_score_notifies_the_serving_operator_and_a_high_one_does_not(
        acme: Tenant) -> None:
    first = served_conversation(acme)
    request = resolve(acme, first)
    assert request is not None
    do_rate(request, 4, "fine", "c1")
    assert not Notification.objects.exists()
    second = served_conversation(acme)
    Conversation.objects.filter(pk=second.pk).update(assignee=acme.operators[0])
    low = resolve(acme, Conversation.objects.get(pk=second.pk))
    assert low is not None
    do_rate(low, 1, "Nobody listened", "c2")
    notification = Notification.objects.get()
    assert notification.user_id == acme.operators[0].pk and notification.kind == "low_rating"
    assert notification.company_id == acme.company.pk


def test_a_comment_too_long_and_bad_scores_are_refused(acme: Tenant) -> None:
    request = resolve(acme, served_conversation(acme))
    assert request is not None
    for score, comment, code in [(3, "x" * 1001, "comment_too_long"), (0, "", "bad_score"),
                                 (6, "", "bad_score"), (True, "", "bad_score"),
                                 ("5.0", "", "bad_score"), (3, 5, "bad_comment")]:
        with pytest.raises(ConversationError) as refused:
            do_rate(request, score, comment)
        assert refused.value.code == code
    assert not Rating.objects.exists()
    do_rate(request, 3, "x" * 1000)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(score=st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans(),
                       st.floats(allow_nan=True)),
       comment=st.one_of(st.text(max_size=1200), st.none(), st.integers(), st.lists(st.text())),
       client_id=st.one_of(st.text(max_size=80), st.none(), st.integers()))
def test_any_rating_input_is_stored_or_refused_never_an_error(
        acme: Tenant, score: Any, comment: Any, client_id: Any) -> None:
    request = RatingRequest.objects.first() or resolve(acme, served_conversation(acme))
    assert request is not None
    try:
        do_rate(request, score, comment, client_id)
    except ConversationError as refused:
        assert refused.code in {"bad_score", "bad_comment", "comment_too_long",
                                "invalid_client_id", "already_rated"}
    Rating.objects.all().delete()


# --- the resolution mail's link ---

def email_request(tenant: Tenant) -> tuple[RatingRequest, OutboundMail]:
    conversation = served_conversation(tenant)
    conversation.visitor.email = "customer@example.com"
    conversation.visitor.save()
    Conversation.objects.filter(pk=conversation.pk).update(channel=Channel.EMAIL,
                                                           subject="My order")
    request = resolve(tenant, Conversation.objects.get(pk=conversation.pk))
    assert request is not None and request.channel == "email"
    return request, OutboundMail.objects.get(event__kind=EventKind.RATING_ASKED)


def test_an_email_resolution_mails_a_link_that_rates_once(acme: Tenant, client: Client) -> None:
    request, outbound = email_request(acme)
    message = compose(outbound)
    assert "is resolved" in message.subject
    links = [line.split(": ", 1)[1] for line in message.body.splitlines() if "/rate/?t=" in line]
    assert len(links) == 5
    link = urlsplit(links[3])  # "4 – Good"
    assert parse_qs(link.query)["score"] == ["4"]
    page = client.get(f"{link.path}?{link.query}")
    assert page.status_code == 200 and b"How would you rate" in page.content
    token = parse_qs(link.query)["t"][0]
    done = client.post("/rate/", {"t": token, "score": "4", "comment": "Quick answer"})
    assert done.status_code == 200 and b"Thank you" in done.content
    rating = Rating.objects.get()
    assert (rating.score, rating.comment, rating.channel) == (4, "Quick answer", "email")
    again = client.post("/rate/", {"t": token, "score": "1"})  # the link used twice
    assert again.status_code == 200 and b"Already rated" in again.content
    assert Rating.objects.count() == 1


def test_an_expired_or_altered_link_gets_a_polite_page(acme: Tenant, client: Client) -> None:
    request, _ = email_request(acme)
    with time_machine.travel(datetime(2026, 3, 1, 9, 0, tzinfo=UTC), tick=False):
        path = rating_path(request.pk)
    with time_machine.travel(datetime(2026, 3, 8, 8, 59, tzinfo=UTC), tick=False):
        assert client.get(path).status_code == 200  # within 7 days
    with time_machine.travel(datetime(2026, 3, 8, 9, 1, tzinfo=UTC), tick=False):
        expired = client.get(path)
        assert expired.status_code == 410 and b"expired" in expired.content
        assert client.post("/rate/", {"t": parse_qs(urlsplit(path).query)["t"][0],
                                      "score": "5"}).status_code == 410
    token = parse_qs(urlsplit(rating_path(request.pk)).query)["t"][0]
    other = str(request.pk + 1)
    for bad in [token[:-2] + "xx", other + token[len(str(request.pk)):], "", "abc", "x" * 500]:
        page = client.get("/rate/", {"t": bad})
        assert page.status_code == 404 and b"does not work" in page.content
    assert client.post("/rate/", {"t": token, "score": "9"}).status_code == 400
    assert not Rating.objects.exists()


# --- facts ---

def test_facts_and_the_csat_numbers(acme: Tenant, globex: Tenant) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        a = resolve(acme, served_conversation(acme))
        b = resolve(acme, served_conversation(acme))
        c = resolve(acme, served_conversation(acme))
        resolve(globex, served_conversation(globex))  # another company's: not counted
    assert a and b and c
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        do_rate(a, 5, "")
        do_rate(b, 2, "")
    rows = list(facts(acme.company.pk, start, start + timedelta(days=1)))
    assert [r["fact"] for r in rows] == ["csat_asked"] * 3 + ["csat_rating"] * 2
    assert rows[3]["score"] == 5 and rows[3]["request_id"] == a.pk
    assert all(r["at"].tzinfo is not None for r in rows)
    numbers = csat_numbers(acme.company.pk, start, start + timedelta(days=1))
    assert numbers == {"asked": 3, "ratings": 2, "satisfied": 1, "csat": 0.5,
                       "response_rate": 2 / 3}
    assert list(facts(acme.company.pk, start + timedelta(days=1),
                      start + timedelta(days=2))) == []


def test_the_widget_settings_form_sets_the_switch_and_the_question(acme: Tenant,
                                                                   globex: Tenant) -> None:
    from django.urls import reverse

    from .conftest import logged_in_client

    owner = logged_in_client(acme.owner)
    url = reverse("widget_edit", kwargs={"widget_id": acme.widget.pk})
    page = owner.get(url)
    assert b"Ask for a rating when resolved" in page.content
    assert b"How would you rate this conversation?" in page.content
    saved = owner.post(url, {"name": "Acme site", "allowed_origins": "",
                             "csat_question": "  Did we help?  "})  # the switch unticked
    assert saved.status_code == 302
    acme.widget.refresh_from_db()
    assert not acme.widget.csat_enabled and acme.widget.csat_question == "Did we help?"
    owner.post(url, {"name": "Acme site", "allowed_origins": "", "csat_enabled": "on",
                     "csat_question": ""})
    acme.widget.refresh_from_db()
    assert acme.widget.csat_enabled
    assert acme.widget.csat_question == "How would you rate this conversation?"
    # Another company's widget: 404, nothing changed.
    foreign = reverse("widget_edit", kwargs={"widget_id": globex.widget.pk})
    assert owner.post(foreign, {"name": "x", "csat_question": "x"}).status_code == 404
    globex.widget.refresh_from_db()
    assert globex.widget.csat_enabled and globex.widget.name == "Globex site"
