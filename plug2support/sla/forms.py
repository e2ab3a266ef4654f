"""The SLA policy form (K3): targets over zero, a rule that names something of this company."""

from __future__ import annotations

from typing import Any

from django import forms

from plug2support.contacts.models import CustomerOrg
from plug2support.conversations.models import Conversation, ConversationTag, Priority, Tag

from .models import AppliesTo, SlaPolicy, Target

UNITS = [("minutes", "minutes"), ("hours", "hours")]
MAX_MINUTES = 60 * 24 * 365  # a year: anything longer is a typo, not a target


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=80)
    first_response = forms.IntegerField(required=False, label="First response within",
                                        widget=forms.NumberInput(attrs={"min": 1}))
    first_response_unit = forms.ChoiceField(choices=UNITS, initial="minutes", label="Unit")
    next_response = forms.IntegerField(required=False, label="Next response within",
                                       help_text="After each customer message the team owes "
                                                 "a reply to.",
                                       widget=forms.NumberInput(attrs={"min": 1}))
    next_response_unit = forms.ChoiceField(choices=UNITS, initial="minutes", label="Unit")
    resolution = forms.IntegerField(required=False, label="Resolution within",
                                    widget=forms.NumberInput(attrs={"min": 1}))
    resolution_unit = forms.ChoiceField(choices=UNITS, initial="hours", label="Unit")
    measure = forms.ChoiceField(choices=[("business", "Business hours (the widget's hours "
                                          "and holidays)"), ("wall", "Wall-clock (24/7)")],
                                initial="business", widget=forms.RadioSelect,
                                label="Counted in")
    warn_percent = forms.IntegerField(required=False, min_value=1, max_value=99,
                                      label="Warn when this % is left")
    warn_minutes = forms.IntegerField(required=False, min_value=1, max_value=MAX_MINUTES,
                                      label="…or this many minutes are left")
    applies_to = forms.ChoiceField(choices=AppliesTo.choices, label="Applies to")
    priority = forms.TypedChoiceField(choices=[("", "—"), *Priority.choices], coerce=int,
                                      required=False, empty_value=None)
    org = forms.ChoiceField(required=False, label="Customer org")
    tag = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.company_id = company_id
        self.fields["org"].choices = [("", "—"), *(  # type: ignore[attr-defined]
            (str(pk), name) for pk, name in CustomerOrg.objects.filter(
                company_id=company_id).order_by("name").values_list("pk", "name")[:500])]
        self.fields["tag"].choices = [("", "—"), *(  # type: ignore[attr-defined]
            (str(pk), name) for pk, name in Tag.objects.filter(
                company_id=company_id).values_list("pk", "name"))]
        self.warning = ""

    def _target(self, name: str) -> int | None:
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        if value <= 0:
            self.add_error(name, "A target must be more than zero.")
            return None
        minutes = value * (60 if self.cleaned_data.get(f"{name}_unit") == "hours" else 1)
        if minutes > MAX_MINUTES:
            self.add_error(name, "At most a year.")
            return None
        return int(minutes)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        targets = {t: self._target(t) for t in Target.values}
        if not self.errors and not any(targets.values()):
            raise forms.ValidationError("Give at least one target.")
        data["minutes"] = targets
        kind = data.get("applies_to")
        if kind == AppliesTo.PRIORITY and data.get("priority") is None:
            self.add_error("priority", "Choose the priority this policy applies to.")
        if kind == AppliesTo.ORG and not data.get("org"):
            self.add_error("org", "Choose the customer org this policy applies to.")
        if kind == AppliesTo.TAG and not data.get("tag"):
            self.add_error("tag", "Choose the tag this policy applies to.")
        return data

    def policy(self, position: int) -> SlaPolicy:
        data = self.cleaned_data
        kind = data["applies_to"]
        minutes = data["minutes"]
        policy = SlaPolicy(
            company_id=self.company_id, name=" ".join(data["name"].split()), position=position,
            first_response_minutes=minutes[Target.FIRST_RESPONSE],
            next_response_minutes=minutes[Target.NEXT_RESPONSE],
            resolution_minutes=minutes[Target.RESOLUTION],
            business_hours=data["measure"] == "business", warn_percent=data["warn_percent"],
            warn_minutes=data["warn_minutes"], applies_to=kind,
            priority=data["priority"] if kind == AppliesTo.PRIORITY else None,
            org_id=int(data["org"]) if kind == AppliesTo.ORG else None,
            tag_id=int(data["tag"]) if kind == AppliesTo.TAG else None)
        self.warning = matches_nothing(policy)
        return policy


def matches_nothing(policy: SlaPolicy) -> str:
    """A warning when no conversation of the company matches the rule today (it is saved
    all the same: it applies once one does)."""
    open_ones = Conversation.objects.filter(company_id=policy.company_id).exclude(
        stage__in=("resolved", "archived"))
    if policy.applies_to == AppliesTo.PRIORITY:
        found = open_ones.filter(priority=policy.priority or 0).exists()
        what = "no open conversation has this priority"
    elif policy.applies_to == AppliesTo.ORG:
        found = open_ones.filter(visitor__contact_link__contact__org_id=policy.org_id).exists()
        what = "no open conversation is from this customer org"
    elif policy.applies_to == AppliesTo.TAG:
        found = ConversationTag.objects.filter(tag_id=policy.tag_id or 0,
                                               conversation__company_id=policy.company_id
                                               ).exists()
        what = "no conversation has this tag"
    else:
        return ""
    return "" if found else (f"Saved, but {what} today: the policy applies once one does.")


def _pairs(self: PolicyForm) -> list[tuple[forms.BoundField, forms.BoundField]]:
    return [(self[name], self[f"{name}_unit"]) for name in Target.values]


PolicyForm.target_pairs = property(_pairs)  # type: ignore[attr-defined]
