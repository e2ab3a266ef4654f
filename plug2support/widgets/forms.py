from __future__ import annotations

import re
import zoneinfo
from datetime import date, time
from typing import Any

from django import forms

from .hours import WEEKDAYS
from .models import Widget, normalise_origin

TIME_ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})
HOLIDAY_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s+(.*))?$")


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


class HoursForm(forms.Form):
    """A widget's business hours: one opening interval per weekday, a time zone, holidays."""

    hours_enabled = forms.BooleanField(required=False, label="Use business hours",
                                       help_text="Off: the chat is open whenever an operator "
                                                 "is online.")
    timezone = forms.ChoiceField(choices=[(z, z) for z in TIME_ZONES], initial="UTC",
                                 label="Time zone")
    holidays = forms.CharField(required=False, widget=forms.Textarea(attrs={
        "rows": 3, "placeholder": "2026-12-25 Christmas"}),
        help_text="One date per line (YYYY-MM-DD), optionally followed by a name.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day, name in enumerate(WEEKDAYS):
            widget = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
            self.fields[f"opens_{day}"] = forms.TimeField(required=False, label=f"{name} opens",
                                                          widget=widget)
            self.fields[f"closes_{day}"] = forms.TimeField(required=False,
                                                           label=f"{name} closes",
                                                           widget=widget)

    def day_fields(self) -> list[tuple[str, Any, Any]]:
        return [(name, self[f"opens_{d}"], self[f"closes_{d}"]) for d, name in enumerate(WEEKDAYS)]

    def clean_timezone(self) -> str:
        value: str = self.cleaned_data["timezone"]
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"Unknown time zone: {value}.") from None
        return value

    def clean_holidays(self) -> list[tuple[date, str]]:
        found: dict[date, str] = {}
        for line in self.cleaned_data["holidays"].splitlines():
            line = line.strip()
            if not line:
                continue
            match = HOLIDAY_LINE.match(line)
            try:
                day = date.fromisoformat(match.group(1)) if match else None
            except ValueError:
                day = None
            if day is None or match is None:
                raise forms.ValidationError(f"Not a date (YYYY-MM-DD): {line[:40]}")
            found[day] = (match.group(2) or "")[:100]
        if len(found) > 366:
            raise forms.ValidationError("At most 366 holidays.")
        return sorted(found.items())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        intervals: list[tuple[int, time, time]] = []
        for day, name in enumerate(WEEKDAYS):
            opens, closes = data.get(f"opens_{day}"), data.get(f"closes_{day}")
            if (opens is None) != (closes is None):
                self.add_error(f"closes_{day}" if closes is None else f"opens_{day}",
                               f"{name}: give both an opening and a closing time, or neither.")
            elif opens is not None and closes is not None:
                if closes <= opens:
                    self.add_error(f"closes_{day}", f"{name}: closing time must be after "
                                                    "the opening time.")
                else:
                    intervals.append((day, opens, closes))
        if data.get("hours_enabled") and not intervals and not self.errors:
            raise forms.ValidationError("Give opening hours for at least one day, or turn "
                                        "business hours off.")
        data["intervals"] = intervals
        return data
