"""What the console's composer loads besides the inbox page (docs/protocol.md §6)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition, require_GET, require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.lib.emoji_set import emoji_json

# The list changes only with the `emoji` package's pin: a week in the browser's cache, then
# one conditional request (its ETag) that answers 304.
EMOJI_MAX_AGE = 7 * 24 * 3600


@membership_required()
@require_GET
@gzip_page
@condition(etag_func=lambda request, membership: emoji_json()[1])
def emoji_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    response = HttpResponse(emoji_json()[0], content_type="application/json")
    response["Cache-Control"] = f"private, max-age={EMOJI_MAX_AGE}"
    return response


@membership_required()
def sidebar_json(request: HttpRequest, membership: Membership,
                 conversation_id: int) -> HttpResponse:
    """M8: the sidebar of a conversation of the member's company (another's: 404)."""
    from .access import get_conversation_for_member
    from .sidebar import sidebar_data

    conversation = get_conversation_for_member(membership, conversation_id)
    return JsonResponse(sidebar_data(membership, conversation))


@membership_required()
@require_POST
def name_visitor(request: HttpRequest, membership: Membership,
                 conversation_id: int) -> HttpResponse:
    """M8: POST name: the name an operator gives the person of a conversation of the
    member's company (another's: 404). The answer is the sidebar as it now is; a refusal
    is {"error": {code, message}} with nothing stored: 400 for a name that is not text of
    at most 150 printable characters, 403 for a verified contact (the site names them)."""
    from plug2support.contacts.actions import NAME_VERIFIED
    from plug2support.contacts.identity import IdentityError

    from .access import get_conversation_for_member
    from .actions.visitors import do_name_visitor
    from .sidebar import sidebar_data

    conversation = get_conversation_for_member(membership, conversation_id)
    try:
        do_name_visitor(membership, conversation, request.POST.get("name"))
    except IdentityError as error:
        return JsonResponse({"error": {"code": error.code, "message": error.message}},
                            status=403 if error.code == NAME_VERIFIED else 400)
    conversation.visitor.refresh_from_db()
    return JsonResponse(sidebar_data(membership, conversation))
