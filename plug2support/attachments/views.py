"""Uploading and downloading attachments (C4), for operators (session) and visitors (token in
a header, or a signed link: links.py).

Downloads are always sent with the type detected at upload, `nosniff`, and a sandboxing CSP,
and as a download (`Content-Disposition: attachment`) unless they are a raster image; so
nothing uploaded ever runs as a page of our origin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from plug2support.accounts.access import membership_required
from plug2support.accounts.current import request_membership
from plug2support.accounts.models import Membership
from plug2support.contacts.actions import check_request_identity, identity_error_status
from plug2support.contacts.identity import IdentityError
from plug2support.lib import jsonin
from plug2support.lib.ids import is_id
from plug2support.lib.uploads import AttachmentError, too_large_error
from plug2support.widgets.fastpath import KEY
from plug2support.widgets.models import Visitor, Widget, hash_token

from .access import (
    attachments_for_visitor,
    get_attachment_for_link,
    get_attachment_for_member,
    get_attachment_for_visitor,
)
from .actions import attachment_payload, do_upload_for_member, do_upload_for_visitor
from .links import LinkRefused, expires_at, link_url
from .models import Attachment

# A thread's worth of images in one request (the widget asks in batches of this many).
LINKS_PER_REQUEST = 100
# Room for the multipart boundaries and headers around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

ERROR_STATUS = {
    "empty": 400, "bad_request": 400, "too_large": 413, "forbidden_type": 415,
    "type_mismatch": 415, "rate_limited": 429, "not_found": 404, "chat_unavailable": 403,
}


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _refused(error: AttachmentError) -> JsonResponse:
    return _error(error.code, error.message, ERROR_STATUS.get(error.code, 400))


def _declared_too_large(request: HttpRequest) -> bool:
    """Refuse a body that says it is too big before reading any of it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.ATTACHMENT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES


def _upload(request: HttpRequest, store: Callable[[Any], Attachment]) -> HttpResponse:
    if _declared_too_large(request):
        return _refused(too_large_error())
    try:
        uploaded = request.FILES.get("file")
    except (MultiPartParserError, SuspiciousOperation):
        uploaded = None
    if uploaded is None:
        return _error("bad_request", "Send the file as multipart/form-data, in the field "
                      "named 'file'.", 400)
    try:
        attachment = store(uploaded)
    except AttachmentError as error:
        return _refused(error)
    finally:
        uploaded.close()
    return JsonResponse(attachment_payload(attachment), status=201)


def _serve(attachment: Attachment) -> FileResponse:
    try:
        handle = attachment.file.storage.open(attachment.file.name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is gone.") from None
    content_type = attachment.content_type
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    response = FileResponse(handle, content_type=content_type,
                            as_attachment=not attachment.is_image, filename=attachment.name)
    response["X-Content-Type-Options"] = "nosniff"
    # Should a browser still render it as a document, it gets no scripts, no origin.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- operators ------------------------------------------------------------------------------

@require_POST
@membership_required()
def member_upload(request: HttpRequest, membership: Membership) -> HttpResponse:
    """POST multipart `file` → 201 attachment payload, or 4xx {"error": {code, message}}."""
    return _upload(request, lambda uploaded: do_upload_for_member(membership, uploaded))


@require_safe
@login_required
def member_download(request: HttpRequest, attachment_id: int, name: str) -> HttpResponseBase:
    # membership_required, but typed for a streamed answer; no company means nothing to see.
    membership = request_membership(request)
    if membership is None:
        raise Http404("No such attachment.")
    # The name in the URL is for people (and saved files); the id decides.
    return _serve(get_attachment_for_member(membership, attachment_id))


# --- visitors (the widget; Authorization: Bearer <token>, never a token in a URL) -----------

def _widget(key: str) -> Widget | None:
    return Widget.objects.filter(key=key).first() if KEY.fullmatch(key) else None


def _widget_not_found() -> JsonResponse:
    return _error("widget_not_found", "No widget has this key.", 404)


def _widget_visitor(request: HttpRequest,
                    key: str) -> tuple[Visitor | None, JsonResponse | None]:
    widget = _widget(key)
    if widget is None:
        return None, _widget_not_found()
    # Only the header: a token in the query string would be written to access logs (N8).
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    visitor = (Visitor.objects.filter(widget=widget, token_hash=hash_token(token))
               .select_related("widget").first() if token else None)
    if visitor is None:
        return None, _error("unauthorised", "A valid visitor token is required "
                            "(Authorization: Bearer <token>).", 401)
    try:
        # N7: a verified user's files, like their messages, only with that user's identity.
        check_request_identity(visitor, request.headers)
    except IdentityError as error:
        return None, _error(error.code, error.message, identity_error_status(error))
    return visitor, None


@csrf_exempt  # authenticated by the visitor token in a header, not by cookies
@require_POST
def visitor_upload(request: HttpRequest, key: str) -> HttpResponse:
    visitor, refused = _widget_visitor(request, key)
    if visitor is None:
        assert refused is not None
        return refused
    return _upload(request, lambda uploaded: do_upload_for_visitor(visitor, uploaded))


@csrf_exempt  # authenticated by the visitor token in a header, not by cookies
@require_POST
def visitor_links(request: HttpRequest, key: str) -> HttpResponse:
    """POST {"attachments": [ids]} → signed links to those the visitor may see (links.py),
    for an <img> or a download, which cannot send the token."""
    visitor, refused = _widget_visitor(request, key)
    if visitor is None:
        assert refused is not None
        return refused
    try:
        body = jsonin.loads(request.body or b"")
    except jsonin.BadJSON as bad:
        return _error("bad_request", f"The body must be a JSON object; {bad.reason}.", 400)
    ids = body.get("attachments") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(is_id(i) and i > 0 for i in ids):
        return _error("bad_attachments", "attachments must be a list of attachment ids.", 400)
    if len(ids) > LINKS_PER_REQUEST:
        return _error("too_many", f"Ask for at most {LINKS_PER_REQUEST} links at a time.", 400)
    widget_key = visitor.widget.key
    return JsonResponse({
        "links": [{"id": a.pk, "url": link_url(widget_key, a.pk, visitor.pk, a.company_id)}
                  for a in attachments_for_visitor(visitor, ids)],
        "expires_at": expires_at().isoformat(),
    })


@require_safe
def visitor_download(request: HttpRequest, key: str, attachment_id: int) -> HttpResponseBase:
    """With a signed link (?sig=, links.py) or with the visitor token in the header."""
    signed = request.GET.get("sig")
    if signed is not None:
        widget = _widget(key)
        if widget is None:
            return _widget_not_found()
        try:
            attachment = get_attachment_for_link(widget, attachment_id, signed)
        except LinkRefused as bad_link:
            return _error(bad_link.code, bad_link.message, 403)
        except Http404:
            return _error("not_found", "No such attachment.", 404)
        return _serve(attachment)
    visitor, refused = _widget_visitor(request, key)
    if visitor is None:
        assert refused is not None
        return refused
    try:
        attachment = get_attachment_for_visitor(visitor, attachment_id)
    except Http404:
        return _error("not_found", "No such attachment.", 404)
    return _serve(attachment)
