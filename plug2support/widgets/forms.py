from __future__ import annotations

from django import forms

from .models import Widget, normalise_origin


class WidgetForm(forms.ModelForm):
    class Meta:
        model = Widget
        fields = ["name", "title", "allowed_origins"]
        widgets = {"allowed_origins": forms.Textarea(attrs={"rows": 3,
                   "placeholder": "https://www.example.com\nhttps://shop.example.com"})}
        help_texts = {"allowed_origins": "One origin per line (scheme, host and port). "
                      "Leave empty to allow any website."}

    def clean_allowed_origins(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["allowed_origins"].split() if line]
        bad = [line for line in lines if not normalise_origin(line)]
        if bad:
            raise forms.ValidationError(
                "Not an origin (like https://www.example.com): " + ", ".join(bad[:3]))
        if len(lines) > 50:
            raise forms.ValidationError("At most 50 origins.")
        return "\n".join(normalise_origin(line) for line in lines)
