"""The E-mail settings page's forms (F1, F4): a support address and a connected mailbox."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from plug2support.widgets.models import Widget

from . import addresses
from .models import MailboxConnection, Security, SupportAddress

# A host name (labels of letters, digits and hyphens) or an IPv4 address; IPv6 in brackets.
_HOST = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                   r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]{2,45}\]$")
# IMAP folder names are sent quoted; a control character (CR, LF, NUL) would end the command.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class AddressForm(forms.ModelForm):
    """A support address's settings; its local part is made by the writer, never typed."""

    class Meta:
        model = SupportAddress
        fields = ["widget", "own_address", "display_name"]
        labels = {"widget": "Widget (inbox and routing)",
                  "own_address": "Your own support address",
                  "display_name": "Name on replies"}
        help_texts = {
            "widget": "Mail to this address opens conversations on this widget: its "
                      "routing rules and its place in the inbox.",
            "own_address": "The address your customers write to, e.g. support@yourshop.com. "
                           "Replies are sent from it; the test mail goes to it, through "
                           "your forwarding.",
            "display_name": "E.g. “Maple Coffee support”. Empty: the operator's name and "
                            "your company's (“Alice at Maple Coffee”).",
        }
        widgets = {"own_address": forms.EmailInput(attrs={
            "placeholder": "support@yourshop.com", "autocomplete": "email"})}

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.company_id = company_id
        widget_field = self.fields["widget"]
        assert isinstance(widget_field, forms.ModelChoiceField)
        # Only the company's own widgets are choices: another's id is "not one of the choices".
        widget_field.queryset = Widget.objects.filter(company_id=company_id).order_by("name")
        widget_field.empty_label = None

    def clean_own_address(self) -> str:
        own = str(self.cleaned_data["own_address"]).strip().lower()
        if own and addresses.is_inbound_domain(own):
            raise forms.ValidationError(
                "This is an address of Plug2Support's; enter your business's own address "
                "(the one your customers write to).")
        return own

    def clean_display_name(self) -> str:
        # Goes into a From header: one line.
        return " ".join(str(self.cleaned_data["display_name"]).split())


KEEP_HELP = "Saved — leave empty to keep it."


class MailboxForm(forms.ModelForm):
    """A connected mailbox (F4). The password is never sent back to the browser: once saved
    it is only replaced, never shown."""

    password = forms.CharField(
        label="Password or app password", required=False, strip=False, max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))

    class Meta:
        model = MailboxConnection
        fields = ["host", "port", "security", "username", "password", "folder"]
        labels = {"host": "IMAP server", "security": "Security", "username": "User name"}
        help_texts = {
            "host": "Gmail: imap.gmail.com · Outlook and Microsoft 365: outlook.office365.com",
            "port": "993 with SSL/TLS (the usual); 143 with STARTTLS.",
            "username": "Usually the full e-mail address.",
            "folder": "Where new mail arrives; INBOX unless you filter support mail into "
                      "a folder of its own.",
        }
        widgets = {"security": forms.RadioSelect,
                   "host": forms.TextInput(attrs={"placeholder": "imap.gmail.com",
                                                  "autocomplete": "off"}),
                   "username": forms.TextInput(attrs={"autocomplete": "off"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["security"].choices = Security.choices  # type: ignore[attr-defined]
        self.fields["port"].widget.attrs.update(min=1, max=65535)
        self.fields["folder"].required = False  # empty: INBOX
        if self.instance.pk:
            self.fields["password"].help_text = KEEP_HELP
        else:
            self.fields["password"].help_text = (
                "For Gmail, an app password, not your usual one: Google Account → "
                "Security → 2-Step Verification → App passwords.")

    def clean_host(self) -> str:
        host = str(self.cleaned_data["host"]).strip().lower().rstrip(".")
        if not _HOST.match(host):
            raise forms.ValidationError("Enter a server name such as imap.gmail.com.")
        return host

    def clean_port(self) -> int:
        port = int(self.cleaned_data["port"])
        if not 1 <= port <= 65535:
            raise forms.ValidationError("A port is a number from 1 to 65535.")
        return port

    def clean_username(self) -> str:
        username = str(self.cleaned_data["username"]).strip()
        if _CONTROL.search(username):
            raise forms.ValidationError("A user name has no control characters.")
        return username

    def clean_folder(self) -> str:
        folder = str(self.cleaned_data["folder"]).strip() or "INBOX"
        if _CONTROL.search(folder):
            raise forms.ValidationError("A folder name has no control characters.")
        return folder

    def clean_password(self) -> str:
        password = str(self.cleaned_data.get("password") or "")
        if _CONTROL.search(password):
            raise forms.ValidationError("A password has no control characters.")
        return password

    def password_for_check(self, kept: str) -> str:
        """The password to try: the one typed, else the saved one (`kept`, decrypted)."""
        return str(self.cleaned_data.get("password") or "") or kept

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("password") and "password" not in self.errors:
            self.add_error("password", "Enter the mailbox's password (or app password).")
        return data
