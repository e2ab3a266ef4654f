"""A person's own saved views (M7): the inbox's current filters under a name of theirs,
shown in their view list. Each is checked as the list checks its parameters
(inbox.Filters.parse), so a saved view always opens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.http import Http404

from plug2support.accounts.models import Membership
from plug2support.lib.ids import id_from
from plug2support.lib.text import has_controls

from ..inbox import FILTERS, Filters, InboxError
from ..models import SavedView
from .core import ConversationError

NAME_MAX = 60
SAVED_VIEWS_MAX = 30
PARAMETERS = ("view", "q", "attr", *FILTERS)


def saved_view_payload(view: SavedView) -> dict[str, Any]:
    return {"id": view.pk, "name": view.name, "filters": view.filters}


def saved_views_of(membership: Membership) -> list[dict[str, Any]]:
    return [saved_view_payload(v) for v in SavedView.objects.filter(
        company_id=membership.company_id, user_id=membership.user_id).order_by("name", "pk")]


def check_saved_view(membership: Membership, name: object,
                     params: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The name (trimmed, 1–60 characters, not one of the person's others) and the filters
    given (the list's parameters only, each as the list would accept it)."""
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > NAME_MAX:
        raise ConversationError("bad_name", f"A view's name is 1 to {NAME_MAX} characters.")
    if has_controls(text):
        raise ConversationError("bad_name", "A view's name holds no control characters.")
    filters = {key: str(params[key]) for key in PARAMETERS
               if isinstance(params.get(key), str | int) and str(params[key]) != ""}
    if any(has_controls(value) for value in filters.values()):
        # PostgreSQL's text (JSON included) cannot hold a NUL: refused, not a 500.
        raise ConversationError("bad_filter", "A view's filters hold no control characters.")
    try:
        Filters.parse(filters)
    except InboxError as error:
        raise ConversationError("bad_filter", error.message) from None
    mine = SavedView.objects.filter(company_id=membership.company_id, user_id=membership.user_id)
    if mine.filter(name=text).exists():
        raise ConversationError("name_taken", f"You already have a view named “{text}”.")
    if mine.count() >= SAVED_VIEWS_MAX:
        raise ConversationError("too_many_views",
                                f"At most {SAVED_VIEWS_MAX} saved views: delete one first.")
    return text, filters


def do_save_view(membership: Membership, name: object,
                 params: Mapping[str, Any]) -> SavedView:
    text, filters = check_saved_view(membership, name, params)
    with transaction.atomic():
        return SavedView.objects.create(company_id=membership.company_id,
                                        user_id=membership.user_id, name=text, filters=filters)


def do_delete_view(membership: Membership, view_id: object) -> None:
    """Delete one of the person's own views; anyone else's (or another company's) is not
    found."""
    pk = id_from(view_id)
    if pk is None:
        raise Http404("No such view.")
    deleted, _ = SavedView.objects.filter(pk=pk, company_id=membership.company_id,
                                          user_id=membership.user_id).delete()
    if not deleted:
        raise Http404("No such view.")
