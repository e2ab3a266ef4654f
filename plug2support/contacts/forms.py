from __future__ import annotations

from typing import Any

from django import forms

from plug2support.accounts.models import User

from .domains import PUBLIC_EMAIL_DOMAINS, normalise_domain
from .models import CustomerOrg

DUPLICATE_DOMAIN = "Another customer org already has this domain."


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} <{obj.email}>" if obj.name else obj.email


class CustomerOrgForm(forms.ModelForm):
    default_owner = MemberChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Nobody (use routing)",
        help_text="Gets this org's new conversations when no routing rule matches.")

    class Meta:
        model = CustomerOrg
        fields = ["name", "domain", "default_owner"]
        widgets = {"domain": forms.TextInput(attrs={"placeholder": "example.com",
                                                    "autocapitalize": "off",
                                                    "spellcheck": "false"})}
        help_texts = {"domain": "Contacts with an e-mail address at this domain (or one of "
                                "its sub-domains) join this org. Optional."}

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.company_id = company_id
        self.instance.company_id = company_id
        owner = self.fields["default_owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = User.objects.filter(
            memberships__company_id=company_id).order_by("name", "email")

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the org a name.")
        return name

    def clean_domain(self) -> str:
        raw = self.cleaned_data["domain"].strip()
        if not raw:
            return ""
        domain = normalise_domain(raw.removeprefix("@"))
        if not domain:
            raise forms.ValidationError(
                "Enter an e-mail domain such as example.com (no https://, no path).")
        if domain in PUBLIC_EMAIL_DOMAINS:
            raise forms.ValidationError(
                f"{domain} is a public e-mail provider: its users are not one organisation.")
        taken = CustomerOrg.objects.filter(company_id=self.company_id, domain=domain)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(DUPLICATE_DOMAIN)
        return domain
