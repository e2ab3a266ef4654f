"""Routing settings (D8): rules tried in order, groups of operators, and a test of a sample
text against the rules before saving."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from plug2support.accounts.access import membership_required
from plug2support.accounts.models import Membership, User

from .models import OperatorGroup, RoutingRule
from .routing import check_keywords, first_match


def _targets(company_id: int) -> list[tuple[str, str]]:
    people = [(f"u:{m.user_id}", m.user.name or m.user.email) for m in Membership.objects.filter(
        company_id=company_id).select_related("user").order_by("user__name")]
    groups = [(f"g:{g.pk}", f"Group: {g.name}")
              for g in OperatorGroup.objects.filter(company_id=company_id)]
    return people + groups


class RuleForm(forms.Form):
    name = forms.CharField(max_length=80)
    keywords = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "placeholder":
                               "refund\ninvoice\nbilling question"}),
                               help_text="One word or phrase per line; whole words, any case.")
    target = forms.ChoiceField(label="Send to")
    sample = forms.CharField(required=False, label="Test with a sample message",
                             widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.company_id = company_id
        self.fields["target"].choices = _targets(company_id)  # type: ignore[attr-defined]

    def clean_keywords(self) -> str:
        try:
            return "\n".join(check_keywords(self.cleaned_data["keywords"]))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def rule(self) -> RoutingRule:
        kind, _, pk = self.cleaned_data["target"].partition(":")
        rule = RoutingRule(company_id=self.company_id, name=self.cleaned_data["name"],
                           keywords=self.cleaned_data["keywords"])
        if kind == "u":
            rule.target_user = User.objects.get(pk=int(pk))
        else:
            rule.target_group = OperatorGroup.objects.get(pk=int(pk), company_id=self.company_id)
        return rule


class GroupForm(forms.Form):
    group_name = forms.CharField(max_length=80, label="Group name")
    members = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.company_id = company_id
        self.fields["members"].choices = [  # type: ignore[attr-defined]
            (str(m.user_id), m.user.name or m.user.email)
            for m in Membership.objects.filter(company_id=company_id).select_related("user")]

    def clean_group_name(self) -> str:
        name = " ".join(self.cleaned_data["group_name"].split())
        if OperatorGroup.objects.filter(company_id=self.company_id, name__iexact=name).exists():
            raise forms.ValidationError("A group with this name exists.")
        return name


@membership_required(admin=True)
def routing(request: HttpRequest, membership: Membership) -> HttpResponse:
    company_id = membership.company_id
    posted = request.POST if request.method == "POST" else None
    rule_form = RuleForm(posted if posted and "save_rule" in posted or posted and "test" in posted
                         else None, company_id=company_id)
    group_form = GroupForm(posted if posted and "save_group" in posted else None,
                           company_id=company_id)
    rules = list(RoutingRule.objects.filter(company_id=company_id)
                 .select_related("target_user", "target_group"))
    result: dict[str, Any] | None = None
    if posted and ("test" in posted or "save_rule" in posted) and rule_form.is_valid():
        draft = rule_form.rule()
        if "save_rule" not in posted:
            # The draft is tried after the saved rules, as it would be once saved.
            sample = rule_form.cleaned_data["sample"]
            matched = first_match([*rules, draft], sample)
            result = {"sample": sample, "rule": matched,
                      "draft": matched is draft}
        else:
            with transaction.atomic():
                draft.position = len(rules)
                draft.save()
            messages.success(request, f"Rule {draft.name!r} saved.")
            return redirect("routing")
    if posted and "save_group" in posted and group_form.is_valid():
        with transaction.atomic():
            group = OperatorGroup.objects.create(company_id=company_id,
                                                 name=group_form.cleaned_data["group_name"])
            allowed = set(Membership.objects.filter(company_id=company_id)
                          .values_list("user_id", flat=True))
            group.members.set([int(u) for u in group_form.cleaned_data["members"]
                               if int(u) in allowed])
        messages.success(request, f"Group {group.name!r} created.")
        return redirect("routing")
    return render(request, "conversations/routing.html", {
        "rules": rules, "rule_form": rule_form, "group_form": group_form, "result": result,
        "groups": OperatorGroup.objects.filter(company_id=company_id).prefetch_related("members"),
    })


@membership_required(admin=True)
@require_POST
def delete_rule(request: HttpRequest, membership: Membership, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=rule_id, company_id=membership.company_id)
    rule.delete()
    messages.success(request, f"Rule {rule.name!r} deleted.")
    return redirect("routing")
