"""Widget settings (admins) and the public widget endpoints (loader config, frame, visitor
HTTP API). The public endpoints are documented in docs/protocol.md. The visitor HTTP API is
for the frame (same origin) and for server-side clients; it sends no CORS headers."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_replace
from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.contacts.actions import (
    check_request_identity,
    contact_summary,
    identity_error_status,
)
from plug2support.contacts.identity import IdentityError
from plug2support.conversations.access import events_after
from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import current_conversation
from plug2support.conversations.opening import do_open_visitor
from plug2support.conversations.serializers import event_payload
from plug2support.lib import jsonin
from plug2support.lib.ids import id_from
from plug2support.lib.ratelimit import hit

from . import config, fastpath
from .actions import (
    CardError,
    do_add_card,
    do_delete_card,
    do_move_card,
    do_save_hours,
    do_save_look,
    do_save_widget,
    hours_initial,
)
from .appearance import CONTENT_TYPES, asset_url, palette
from .collect import collect_browser
from .forms import CardForm, HoursForm, LookForm, WidgetForm
from .models import Visitor, Widget, WidgetCard, hash_token
from .visits import VisitError, do_record_page_view


def snippet_for(widget: Widget) -> str:
    return (f'<script async src="{settings.PUBLIC_URL}/static/widget/loader.js" '
            f'data-widget="{widget.key}"></script>')


# --- settings (company admins) -------------------------------------------------------------

@membership_required(admin=True)
def widget_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    widgets = Widget.objects.filter(company_id=membership.company_id).order_by("name")
    return render(request, "widgets/list.html", {"widgets": widgets})


@membership_required(admin=True)
def widget_edit(request: HttpRequest, membership: Membership,
                widget_id: int | None = None) -> HttpResponse:
    widget = None
    if widget_id is not None:
        widget = get_object_or_404(Widget, pk=widget_id, company_id=membership.company_id)
    post = request.POST if request.method == "POST" else None
    which = next((name for name in ("save_hours", "save_look", "add_card", "card_action")
                  if post is not None and name in post), "save" if post is not None else "")
    form = WidgetForm(post if which == "save" else None, instance=widget)
    hours_form = look_form = card_form = None
    if widget is not None:
        hours_form = HoursForm(post if which == "save_hours" else None,
                               initial=hours_initial(widget))
        look_form = LookForm(post if which == "save_look" else None,
                             request.FILES if which == "save_look" else None, instance=widget)
        card_form = CardForm(post if which == "add_card" else None,
                             request.FILES if which == "add_card" else None)
        if which == "save_hours" and hours_form.is_valid():
            do_save_hours(widget, hours_form)
            messages.success(request, "Business hours saved.")
            return redirect("widget_edit", widget_id=widget.pk)
        if which == "save_look" and look_form.is_valid():
            do_save_look(widget, look_form)
            messages.success(request, "Look and layout saved: the widget shows them now.")
            return redirect("widget_edit", widget_id=widget.pk)
        if which == "add_card" and card_form.is_valid():
            try:
                do_add_card(widget, card_form)
            except CardError as error:
                messages.error(request, str(error))
            return redirect("widget_edit", widget_id=widget.pk)
        if which == "card_action":
            assert post is not None
            card = get_object_or_404(WidgetCard, pk=id_from(post.get("card")) or 0,
                                     widget=widget)
            action = post.get("card_action")
            if action == "delete":
                do_delete_card(widget, card)
            elif action in ("up", "down"):
                do_move_card(widget, card, -1 if action == "up" else 1)
            return redirect("widget_edit", widget_id=widget.pk)
    if which == "save" and form.is_valid():
        widget = do_save_widget(membership, form)
        return redirect("widget_edit", widget_id=widget.pk)
    return render(request, "widgets/edit.html", {
        "form": form, "widget": widget, "hours_form": hours_form, "look_form": look_form,
        "card_form": card_form, "cards": widget.cards.all() if widget else [],
        "launcher_logo_url": asset_url(widget.key, widget.launcher_logo) if widget else "",
        "snippet": snippet_for(widget) if widget else "",
    })


@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})  # shown in the settings page's own frame
@membership_required(admin=True)
def widget_preview(request: HttpRequest, membership: Membership, widget_id: int) -> HttpResponse:
    """The chat frame as the settings page previews it (B5): no socket, sample messages; the
    page sends the settings being edited to it as they change."""
    widget = get_object_or_404(Widget, pk=widget_id, company_id=membership.company_id)
    return render(request, "widgets/frame.html", frame_context(widget, preview=True))


def widget_asset(request: HttpRequest, key: str, name: str) -> HttpResponse:
    """A widget's image (launcher logo, brand logo, a card's image), public: customer pages
    show them. Only images the widget uses are served, and only as images."""


    widget = Widget.objects.filter(key=key).first() if fastpath.KEY.fullmatch(key) else None
    if widget is None:
        raise Http404("No such image.")
    stored = f"widgets/{key}/{name}"
    used = {widget.launcher_logo, widget.brand_logo,
            *widget.cards.exclude(image="").values_list("image", flat=True)}
    extension = name.rsplit(".", 1)[-1]
    if stored not in used or extension not in CONTENT_TYPES \
            or not default_storage.exists(stored):
        raise Http404("No such image.")
    with default_storage.open(stored, "rb") as handle:
        response = HttpResponse(handle.read(), content_type=CONTENT_TYPES[extension])
    response["Cache-Control"] = "public, max-age=31536000, immutable"  # the name is its hash
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- public: what the loader, the frame and third-party clients call ----------------------

class WidgetNotFound(Exception):
    pass


def _widget_or_404(key: str) -> Widget:
    widget = Widget.objects.filter(key=key).select_related("company").first() \
        if fastpath.KEY.fullmatch(key) else None
    if widget is None:
        raise Http404("No widget has this key.")
    return widget


def _api_widget(key: str) -> Widget:
    # A key is never looked up unless it has a key's shape (a NUL in the path would make
    # PostgreSQL refuse the query).
    widget = Widget.objects.filter(key=key).select_related("company").first() \
        if fastpath.KEY.fullmatch(key) else None
    if widget is None:
        raise WidgetNotFound
    return widget


def _widget_not_found() -> JsonResponse:
    return _error("widget_not_found", "No widget has this key.", 404)


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    # Vary on Origin always: the answer differs by origin, and a shared cache must not
    # hand one site's answer (or one without CORS) to another.
    response["Vary"] = "Origin"
    if origin:
        response["Access-Control-Allow-Origin"] = origin
    return response


def widget_config(request: HttpRequest, key: str) -> HttpResponse:
    """What the loader needs on every page view. Refused for an origin the widget does not
    allow (the loader then shows nothing)."""
    origin = request.headers.get("Origin")
    widget = Widget.objects.filter(key=key).first() if fastpath.KEY.fullmatch(key) else None
    if widget is None:
        return _cors(JsonResponse({"error": {"code": "widget_not_found",
                                             "message": "No widget has this key."}},
                                  status=404), origin)
    if not widget.allows_origin(origin):
        return _cors(JsonResponse({"error": {"code": "origin_not_allowed",
                                             "message": "This website may not use this widget."}},
                                  status=403), origin)
    # The same answer as the ASGI fast path (widgets/fastpath.py), which serves it in
    # production; this view serves the test client and any WSGI deployment.
    body, tag = config.render(widget)
    response = HttpResponse(body, content_type="application/json")
    if tag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    response["ETag"] = tag
    response["Cache-Control"] = "public, max-age=60"
    return _cors(response, origin)


def frame_context(widget: Widget, preview: bool = False) -> dict[str, Any]:
    """What the chat frame is rendered with: its look (B3), its cards (B4), its config."""
    colors = palette(widget.brand_color)
    look = {"appearance": widget.appearance, "brand": colors.brand,
            "on_brand": colors.on_brand,
            "brand_logo": asset_url(widget.key, widget.brand_logo)}
    cards = [{"title": c.title, "description": c.description, "link": c.link,
              "image": asset_url(widget.key, c.image)} for c in widget.cards.all()]
    return {"widget": widget, "look": look, "cards": cards,
            "config": {"widget": widget.key, "title": widget.title,
                       "socket_path": "/ws/widget", "max_chars": settings.MESSAGE_MAX_CHARS,
                       "look": look, "preview": preview,
                       "search_enabled": widget.search_enabled,
                       "require_identity": widget.require_identity,
                       # The pages the frame may talk to (postMessage, N8); empty: any.
                       "origins": widget.origin_list}}


def widget_frame(request: HttpRequest, key: str) -> HttpResponse:
    widget = _widget_or_404(key)
    # Rendered without the request: the frame needs no session, user or CSRF token.
    response = HttpResponse(render_to_string("widgets/frame.html", frame_context(widget)))
    # Browsers refuse to show the frame inside a site the company did not list (B6).
    ancestors = " ".join(widget.origin_list) or "*"
    response["Content-Security-Policy"] = (
        f"frame-ancestors {ancestors}; default-src 'self'; connect-src 'self' ws: wss:; "
        "img-src 'self' data: blob:; style-src 'self'; script-src 'self'")
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    return response


def _visitor_from_request(request: HttpRequest, widget: Widget) -> Visitor:
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    visitor = (Visitor.objects.filter(widget=widget, token_hash=hash_token(token))
               .select_related("widget").first() if token else None)
    if visitor is None:
        raise PermissionError
    return visitor


def _identity_refusal(request: HttpRequest, visitor: Visitor) -> JsonResponse | None:
    """N7: a verified user's visitor answers only requests proving that user (the headers
    Plug2Support-User-Id and Plug2Support-User-Hash); a widget that requires identity
    answers only verified visitors. None when the request may go on."""
    try:
        check_request_identity(visitor, request.headers)
    except IdentityError as error:
        return _error(error.code, error.message, identity_error_status(error))
    return None


def _error(code: str, message: str, status: int, **details: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **details}}, status=status)


@csrf_exempt  # authenticated by the visitor token in a header, not by cookies
@require_http_methods(["POST"])
def visitor_session(request: HttpRequest, key: str) -> HttpResponse:
    """Create (or confirm) a visitor: {"token": optional} → {"token", "visitor", "conversation"}."""
    try:
        widget = _api_widget(key)
    except WidgetNotFound:
        return _widget_not_found()
    try:
        body = jsonin.loads(request.body or b"{}")
    except jsonin.BadJSON as bad:
        return _error("bad_request", f"The body must be JSON; {bad.reason}.", 400)

    body = body if isinstance(body, dict) else {}
    token = body.get("token")
    try:
        # N7: a verified user's token opens only with that user's identity.
        opened = do_open_visitor(widget, token if isinstance(token, str) else None,
                                 identity=body.get("identity"),
                                 ip=request.META.get("REMOTE_ADDR", ""))
    except ConversationError as error:
        return _error(error.code, error.message, 429, **error.details)
    visitor = opened.visitor
    collect_browser(visitor, request.headers, body, request.META.get("REMOTE_ADDR", ""))
    conversation = current_conversation(visitor) \
        if opened.may_read else None
    answer: dict[str, Any] = {
        "token": opened.token,
        "visitor": {"id": visitor.pk, "name": visitor.display_name},
        "conversation": None if conversation is None else {
            "id": conversation.pk, "stage": conversation.stage,
            "last_seq": conversation.last_seq},
        "contact": None if opened.contact is None else contact_summary(opened.contact),
    }
    if opened.refused is not None:
        answer["identity_error"] = {"code": opened.refused.code,
                                    "message": opened.refused.message}
    return JsonResponse(answer)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def visitor_messages(request: HttpRequest, key: str) -> HttpResponse:
    """GET ?after=N: the events of the visitor's conversation after N.
    POST {"client_id", "body"}: send a message (idempotent by client_id)."""
    try:
        widget = _api_widget(key)
    except WidgetNotFound:
        return _widget_not_found()
    try:
        visitor = _visitor_from_request(request, widget)
    except PermissionError:
        return _error("unauthorised", "A valid visitor token is required "
                      "(Authorization: Bearer <token>).", 401)
    refused = _identity_refusal(request, visitor)
    if refused is not None:
        return refused
    if request.method == "GET":
        conversation = current_conversation(visitor)
        try:
            after = max(0, int(request.GET.get("after", "0")))
        except ValueError:
            return _error("bad_request", "after must be a whole number.", 400)
        events = events_after(conversation.pk, after, visitor=True) if conversation else []
        return JsonResponse({"conversation": conversation.pk if conversation else None,
                             "events": [event_payload(e) for e in events]})
    if len(request.body) > settings.SOCKET_FRAME_MAX_BYTES:
        return _error("frame_too_large",
                      f"A request is at most {settings.SOCKET_FRAME_MAX_BYTES} bytes.", 413)
    try:
        body = jsonin.loads(request.body or b"")
    except jsonin.BadJSON as bad:
        return _error("bad_request", f"The body must be a JSON object; {bad.reason}.", 400)
    if not isinstance(body, dict):
        return _error("bad_request", "The body must be a JSON object.", 400)
    try:
        posted = do_post_visitor_message(
            visitor, client_id=body.get("client_id"), body=body.get("body"),
            attachments=body.get("attachments"), ip=request.META.get("REMOTE_ADDR", ""),
            honeypot=body.get("website"))
    except ConversationError as error:
        status = {"rate_limited": 429, "chat_unavailable": 403,
                  "client_id_reused": 409}.get(error.code, 400)
        return _error(error.code, error.message, status, **error.details)
    return JsonResponse({"client_id": posted.event.client_id,
                         "conversation": posted.event.conversation_id,
                         "seq": posted.event.seq, "duplicate": posted.duplicate},
                        status=200 if posted.duplicate else 201)



@csrf_exempt  # a cross-site beacon from the customer's page; it carries no cookies
@require_http_methods(["POST"])
def page_view(request: HttpRequest, key: str) -> HttpResponse:
    """The loader reports the page the browser is on (C7) and learns of a chat an operator
    started with it. Sent as text/plain JSON so the browser needs no preflight."""
    origin = request.headers.get("Origin")
    try:
        widget = _api_widget(key)
    except WidgetNotFound:
        return _cors(_widget_not_found(), origin)
    if not widget.allows_origin(origin):
        return _cors(_error("origin_not_allowed", "This website may not use this widget.", 403),
                     origin)
    if len(request.body) > 4096:
        return _cors(_error("too_large", "A page view is at most 4096 bytes.", 413), origin)
    if not hit(f"pageview:{request.META.get('REMOTE_ADDR', '')}", 600, 60):
        return _cors(_error("rate_limited", "Too many page views from this address.", 429),
                     origin)
    try:
        body = jsonin.loads(request.body or b"")
        if not isinstance(body, dict):
            raise ValueError
        _site_visitor, invite = do_record_page_view(
            widget, vid=body.get("vid"), url=body.get("url"), title=body.get("title"),
            referrer=body.get("referrer"))
    except ValueError:
        return _cors(_error("bad_request", "The body must be a JSON object.", 400), origin)
    except VisitError as error:
        return _cors(_error(error.code, error.message, 400), origin)
    payload = None
    if invite is not None:
        payload = {"code": invite.code}
    response = JsonResponse({"invite": payload})
    response["Cache-Control"] = "no-store"
    return _cors(response, origin)
