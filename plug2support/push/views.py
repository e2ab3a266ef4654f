"""Web Push pages (M11): the subscription endpoints (POST saves, DELETE removes; CSRF and
our own Origin), and the application server key the console subscribes with."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from .keys import vapid_key
from .models import PushSubscription
from .subscriptions import SubscriptionError, do_subscribe, do_unsubscribe


def _refused(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def endpoint_hash(endpoint: str) -> str:
    """SHA-256 of the endpoint, hex: what push.js computes with crypto.subtle."""
    return hashlib.sha256(endpoint.encode()).hexdigest()


@membership_required()
def subscription(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.method == "GET":
        # Which browsers of this member (in this company) are subscribed, as hashes of their
        # endpoints: the console shows "on" only when this browser's is among them (another
        # person signed in on the same browser has not said yes), and the endpoint, a
        # capability URL, is never sent back.
        mine = PushSubscription.objects.filter(company_id=membership.company_id,
                                               user_id=membership.user_id)
        return JsonResponse({"public_key": vapid_key().public_key, "endpoints": [
            endpoint_hash(e) for e in mine.values_list("endpoint", flat=True)]})
    if request.method not in ("POST", "DELETE"):
        return _refused("method_not_allowed", "Use GET, POST or DELETE.", 405)
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != settings.PUBLIC_URL \
            and origin != f"{request.scheme}://{request.get_host()}":
        return _refused("foreign_origin", "A subscription is saved from the console only.", 403)
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _refused("invalid_json", "Send the subscription as JSON.")
    try:
        if request.method == "POST":
            do_subscribe(membership, body)
            return JsonResponse({"subscribed": True}, status=201)
        return JsonResponse({"removed": do_unsubscribe(membership, body)})
    except SubscriptionError as error:
        return _refused(error.code, error.message)
