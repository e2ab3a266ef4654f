"""The one-question page of the resolution mail's signed link (K2): no login; the same
faces and comment as the widget. A used, expired or altered link gets a polite page, and
nothing is stored twice (rating.do_rate)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from plug2support.conversations.actions.core import ConversationError

from . import texts
from .links import LinkRefused, read_token
from .models import COMMENT_MAX_CHARS, Rating, RatingRequest
from .rating import do_rate


def _page(request: HttpRequest, state: str, status: int = 200, **context: object) -> HttpResponse:
    return render(request, "satisfaction/rate.html",
                  {"state": state, "faces": texts.FACES.items(),
                   "comment_max": COMMENT_MAX_CHARS, **context}, status=status)


@require_http_methods(["GET", "POST"])
def rate(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("t") if request.method == "POST" else request.GET.get("t")
    try:
        request_id = read_token(token)
    except LinkRefused as refused:
        return _page(request, "expired" if refused.code == "link_expired" else "bad",
                     status=410 if refused.code == "link_expired" else 404)
    asked = (RatingRequest.objects.filter(pk=request_id)
             .select_related("conversation__company").first())
    if asked is None:
        return _page(request, "bad", status=404)
    company = asked.conversation.company.name
    existing = Rating.objects.filter(request=asked).first()
    if existing is not None:
        return _page(request, "used", company=company, score=existing.score)
    chosen = request.POST.get("score") if request.method == "POST" else request.GET.get("score")
    if request.method == "POST":
        try:
            do_rate(asked, request.POST.get("score"), request.POST.get("comment", ""))
        except ConversationError as error:
            if error.code == "already_rated":
                return _page(request, "used", company=company)
            return _page(request, "ask", status=400, company=company, token=token,
                         question=asked.question, error=error.message, chosen=chosen,
                         comment=request.POST.get("comment", "")[:COMMENT_MAX_CHARS])
        return _page(request, "thanks", company=company)
    return _page(request, "ask", company=company, token=token, question=asked.question,
                 chosen=chosen if chosen in {"1", "2", "3", "4", "5"} else None)
