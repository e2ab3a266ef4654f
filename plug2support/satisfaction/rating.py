"""The visitor's answer (K2): checked, stored once per request, an event in the
conversation (the team's thread live, the widget's "You rated …"), and a notification to
the serving operator for a low score."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from plug2support.conversations.actions.core import ConversationError, lock_conversation, publish
from plug2support.conversations.hot_path import append_event
from plug2support.conversations.models import Event, EventKind, Sender
from plug2support.notifications.actions import do_notify
from plug2support.notifications.alerts import wants_email

from . import texts
from .models import COMMENT_MAX_CHARS, LOW_SCORES, SCORE_MAX, SCORE_MIN, Rating, RatingRequest

CLIENT_ID_MAX = 64


@dataclass(frozen=True)
class Rated:
    rating: Rating
    duplicate: bool  # a resend of the answer already stored: nothing new was written


def check_answer(score: object, comment: object, client_id: object = "") -> tuple[int, str, str]:
    if isinstance(score, str) and score.isdigit() and len(score) == 1:
        score = int(score)  # the public page's form posts text
    if not isinstance(score, int) or isinstance(score, bool) or not (
            SCORE_MIN <= score <= SCORE_MAX):
        raise ConversationError("bad_score", f"score must be a whole number from {SCORE_MIN} "
                                             f"to {SCORE_MAX}.")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise ConversationError("bad_comment", "comment must be text.")
    comment = comment.strip()
    if len(comment) > COMMENT_MAX_CHARS:
        raise ConversationError("comment_too_long", f"A comment is at most "
                                f"{COMMENT_MAX_CHARS} characters.", limit=COMMENT_MAX_CHARS)
    if client_id is None:
        client_id = ""
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX:
        raise ConversationError("invalid_client_id", f"client_id must be a string of at most "
                                                     f"{CLIENT_ID_MAX} characters.")
    return score, comment, client_id


def request_for_visitor(visitor_id: int, conversation_id: object, seq: object) -> RatingRequest:
    """The question a widget answers: of this visitor's own conversation, else not_found
    (another visitor's or company's conversation is never told apart from none)."""
    if not isinstance(conversation_id, int) or not isinstance(seq, int) \
            or isinstance(seq, bool) or isinstance(conversation_id, bool):
        raise ConversationError("not_found", "No such rating question.")
    request = (RatingRequest.objects.filter(conversation_id=conversation_id, seq=seq,
                                            conversation__visitor_id=visitor_id)
               .select_related("conversation").first())
    if request is None:
        raise ConversationError("not_found", "No such rating question.")
    return request


def do_rate(request: RatingRequest, score: object, comment: object,
            client_id: object = "") -> Rated:
    score, comment, client_id = check_answer(score, comment, client_id)
    with transaction.atomic():
        conversation = lock_conversation(request.conversation_id)
        existing = Rating.objects.filter(request=request).first()
        if existing is not None:
            if client_id and existing.client_id == client_id:
                return Rated(existing, duplicate=True)
            raise ConversationError("already_rated", "This conversation was already rated. "
                                    "Thank you!", score=existing.score)
        event = append_event(conversation, kind=EventKind.RATING, sender=Sender.VISITOR,
                             body=texts.rated_line(score, comment))
        details = {"score": score, "comment": comment, "asked": request.seq}
        Event.objects.filter(pk=event.pk).update(details=details)
        event.details = details
        try:
            with transaction.atomic():
                rating = Rating.objects.create(
                    company_id=request.company_id, conversation_id=request.conversation_id,
                    request=request, score=score, comment=comment, channel=request.channel,
                    operator_id=request.operator_id, client_id=client_id, seq=event.seq,
                    rated_at=event.created_at)
        except IntegrityError:
            # Another answer won between the read and the write (the row lock makes this
            # rare on PostgreSQL): the whole answer is undone.
            raise ConversationError("already_rated", "This conversation was already "
                                    "rated. Thank you!") from None
        publish(conversation, event)
        if score in LOW_SCORES and request.operator_id is not None:
            _notify_low(request, rating)
    return Rated(rating, duplicate=False)


def _notify_low(request: RatingRequest, rating: Rating) -> None:
    """The serving operator at the resolution hears of a 1 or 2 (the `low_rating` kind of
    notifications/alerts.py: in the console always, by e-mail if they chose it)."""
    operator_id = request.operator_id
    assert operator_id is not None
    title = texts.LOW_RATING_TITLE.format(score=rating.score)
    body = rating.comment[:200]
    do_notify(company_id=request.company_id, user_ids=[operator_id], kind="low_rating",
              title=title, body=body, url=f"/inbox/{request.conversation_id}/#seq-{rating.seq}",
              email_template="alert", email_context={
                  "title": title, "body": body, "public_url": settings.PUBLIC_URL,
                  "url": f"/inbox/{request.conversation_id}/"},
              email_to=wants_email(request.company_id, [operator_id], "low_rating"))
