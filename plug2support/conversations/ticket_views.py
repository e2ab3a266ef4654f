"""The two trackers (E1): the Active Ticket Tracker (no code change) and the Product Assist
Tracker (code changes and issues, worked with product teams)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from .access import get_ticket_for_member
from .actions.core import ConversationError
from .actions.tickets import do_set_ticket_stage
from .models import Ticket, TicketKind, TicketStage

TRACKERS = {"active": "Active Ticket Tracker", "product_assist": "Product Assist Tracker"}


@membership_required()
def tracker(request: HttpRequest, membership: Membership) -> HttpResponse:
    which = request.GET.get("tracker", "active")
    if which not in TRACKERS:
        which = "active"
    product = Q(kind=TicketKind.ISSUE) | Q(needs_code_change=True)
    tickets = Ticket.objects.filter(company_id=membership.company_id).select_related(
        "owner", "conversation__visitor")
    tickets = tickets.filter(product) if which == "product_assist" else tickets.exclude(product)
    return render(request, "conversations/tracker.html", {
        "tracker": which, "trackers": TRACKERS, "tickets": tickets,
        "stages": TicketStage.choices,
    })


@membership_required()
@require_POST
def ticket_stage(request: HttpRequest, membership: Membership, ticket_id: int) -> HttpResponse:
    ticket = get_ticket_for_member(membership, ticket_id)
    try:
        do_set_ticket_stage(membership, ticket, request.POST.get("stage"))
    except ConversationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"#{ticket.pk} is now {ticket.get_stage_display()}.")
    return redirect(f"/tickets/?tracker={ticket.tracker}")
