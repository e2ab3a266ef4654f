"""The saved reply form of the settings page. It only reads the fields: every rule (lengths,
shortcuts, variables, limits) is the writer's (actions.py), whose refusal names the field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from plug2support.accounts.models import Membership

from .actions import COMPANY, FILES_PER_REPLY, PERSONAL, SHORTCUT_MAX, TITLE_MAX
from .models import SavedReply


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if not data:
            return []
        return list(data) if isinstance(data, (list, tuple)) else [data]


class SavedReplyForm(forms.Form):
    scope = forms.ChoiceField(choices=[(PERSONAL, "Only me"), (COMPANY, "Everyone in the company")],
                              initial=PERSONAL, widget=forms.RadioSelect, label="Who uses it")
    title = forms.CharField(required=False, strip=False, widget=forms.TextInput(
        attrs={"maxlength": TITLE_MAX, "required": True, "autocomplete": "off"}))
    shortcut = forms.CharField(
        required=False, strip=False,
        help_text=f"Type <code>/</code> and this in the composer: up to {SHORTCUT_MAX} of "
                  "a–z, 0–9, - and _.",
        widget=forms.TextInput(attrs={"maxlength": SHORTCUT_MAX + 1, "required": True,
                                      "autocomplete": "off", "spellcheck": "false",
                                      "autocapitalize": "none"}))
    body = forms.CharField(
        required=False, strip=False, label="Text",
        help_text="Markdown: **bold**, _italic_, [links](https://…), - lists, `code`. "
                  "Variables: <code>{{contact.name}}</code>, <code>{{contact.email}}</code>, "
                  "<code>{{operator.name}}</code>, <code>{{company.name}}</code>; a fallback "
                  "after a bar is used when the value is empty: "
                  "<code>{{contact.name|there}}</code>.",
        widget=forms.Textarea(attrs={"rows": 7, "class": "mono", "required": True,
                                     "maxlength": settings.MESSAGE_MAX_CHARS}))
    new_files = MultipleFileField(
        required=False, label="Attach files",
        help_text=f"Sent with the reply each time it is used; at most {FILES_PER_REPLY}.")
    remove_files = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                             label="Remove files")

    def __init__(self, *args: Any, membership: Membership,
                 reply: SavedReply | None = None, **kwargs: Any) -> None:
        if reply is not None:
            kwargs["initial"] = {"title": reply.title, "shortcut": reply.shortcut,
                                 "body": reply.body}
        super().__init__(*args, **kwargs)
        # The scope is chosen once, by someone who may choose the company's.
        if reply is not None or not membership.is_admin:
            del self.fields["scope"]
        files = list(reply.files.all()) if reply is not None else []
        if files:
            self.fields["remove_files"].choices = [  # type: ignore[attr-defined]
                (str(f.pk), f"{f.name} ({f.size:,} bytes)") for f in files]
        else:
            del self.fields["remove_files"]
