"""Service targets settings (K3): the company's SLA policies, in the order they are tried."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership

from .forms import PolicyForm
from .models import SlaPolicy


@membership_required(admin=True)
def policies(request: HttpRequest, membership: Membership) -> HttpResponse:
    company_id = membership.company_id
    form = PolicyForm(request.POST if request.method == "POST" else None,
                      company_id=company_id)
    existing = list(SlaPolicy.objects.filter(company_id=company_id)
                    .select_related("org", "tag"))
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            policy = form.policy(position=len(existing))
            policy.save()
        messages.success(request, f"Policy {policy.name!r} saved.")
        if form.warning:
            messages.warning(request, form.warning)
        return redirect("sla_policies")
    return render(request, "sla/policies.html", {"policies": existing, "form": form},
                  status=400 if request.method == "POST" else 200)


@membership_required(admin=True)
@require_POST
def delete_policy(request: HttpRequest, membership: Membership, policy_id: int) -> HttpResponse:
    policy = get_object_or_404(SlaPolicy, pk=policy_id, company_id=membership.company_id)
    policy.delete()  # its clocks keep running to their end; facts keep its id
    messages.success(request, f"Policy {policy.name!r} deleted.")
    return redirect("sla_policies")
