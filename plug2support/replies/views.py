"""The Saved replies settings page (SPEC M1) — the company's replies and the member's own,
with how often each was used — and the two endpoints the composer's `/` uses (issue 18,
contract 1). Every reply is read through access.py: a teammate's own or another company's
is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership
from plug2support.conversations.access import get_conversation_for_member
from plug2support.lib.uploads import AttachmentError

from .access import get_saved_reply_for_member, replies_for, reply_payload, search_saved_replies
from .actions import (
    PERSONAL,
    REPLIES_PER_COMPANY,
    ReplyError,
    do_create_saved_reply,
    do_delete_saved_reply,
    do_update_saved_reply,
    do_use_saved_reply,
)
from .forms import SavedReplyForm
from .models import SavedReply


def _anchor(reply: SavedReply) -> str:
    return f"{reverse('saved_replies')}#reply-{reply.pk}"


def _refuse(form: SavedReplyForm, error: ReplyError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@membership_required()
def saved_replies(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = SavedReplyForm(request.POST if request.method == "POST" else None,
                          request.FILES if request.method == "POST" else None,
                          membership=membership)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            reply = do_create_saved_reply(
                membership, scope=data.get("scope", PERSONAL), title=data["title"],
                shortcut=data["shortcut"], body=data["body"], files=data["new_files"])
        except ReplyError as error:
            _refuse(form, error)
        else:
            messages.success(request, f"Saved reply “{reply.title}” added: type /{reply.shortcut} "
                             "in the composer.")
            return redirect(_anchor(reply))
    replies = list(replies_for(membership).prefetch_related("files").select_related("updated_by")
                   .order_by("-usage_count", "title", "pk"))
    status = 400 if request.method == "POST" else 200
    return render(request, "replies/settings.html", {
        "form": form, "limit": REPLIES_PER_COMPANY,
        "company_replies": [r for r in replies if r.owner_id is None],
        "my_replies": [r for r in replies if r.owner_id is not None],
    }, status=status)


def _may_change(membership: Membership, reply: SavedReply) -> bool:
    return reply.owner_id is not None or membership.is_admin


@membership_required()
def saved_reply_edit(request: HttpRequest, membership: Membership, reply_id: int) -> HttpResponse:
    reply = get_saved_reply_for_member(membership, reply_id)
    if not _may_change(membership, reply):
        messages.error(request, "Only owners and admins change the company's replies.")
        return redirect(_anchor(reply))
    form = SavedReplyForm(request.POST if request.method == "POST" else None,
                          request.FILES if request.method == "POST" else None,
                          membership=membership, reply=reply)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            reply = do_update_saved_reply(
                membership, reply, title=data["title"], shortcut=data["shortcut"],
                body=data["body"], files=data["new_files"],
                remove_files=data.get("remove_files") or [])
        except ReplyError as error:
            _refuse(form, error)
        else:
            messages.success(request, f"Saved reply “{reply.title}” saved.")
            return redirect(_anchor(reply))
    status = 400 if request.method == "POST" else 200
    return render(request, "replies/edit.html", {"form": form, "reply": reply}, status=status)


@membership_required()
@require_POST
def saved_reply_delete(request: HttpRequest, membership: Membership,
                       reply_id: int) -> HttpResponse:
    reply = get_saved_reply_for_member(membership, reply_id)
    try:
        do_delete_saved_reply(membership, reply)
    except ReplyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Saved reply “{reply.title}” deleted.")
    return redirect("saved_replies")


@require_GET
@membership_required()
def saved_replies_json(request: HttpRequest, membership: Membership) -> JsonResponse:
    found = search_saved_replies(membership, request.GET.get("q", ""))
    return JsonResponse({"replies": [reply_payload(r) for r in found]})


@require_POST
@membership_required()
def use_saved_reply(request: HttpRequest, membership: Membership, reply_id: int) -> JsonResponse:
    reply = get_saved_reply_for_member(membership, reply_id)
    conversation = get_conversation_for_member(membership, request.POST.get("conversation"))
    try:
        used = do_use_saved_reply(membership, reply, conversation)
    except ReplyError as error:
        return JsonResponse({"error": {"code": error.code, "message": error.message}},
                            status=404 if error.code == "not_found" else 400)
    except AttachmentError as error:
        # A file the upload checks refuse now (the limits changed since it was saved).
        return JsonResponse({"error": {"code": error.code, "message": error.message}},
                            status=400)
    return JsonResponse({"text": used.text, "attachments": used.attachment_ids})

