from __future__ import annotations

import re
import zoneinfo
from datetime import date, time
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.validators import URLValidator

from plug2support.lib.uploads import CheckedFile

from .appearance import (
    CARD_IMAGE_MAX_BYTES,
    AppearanceError,
    check_brand_color,
    check_image,
)
from .hours import WEEKDAYS
from .models import DEFAULT_CSAT_QUESTION, SPACING_MAX, Widget, WidgetCard
from .origins import InvalidOrigin, parse_origin

TIME_ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})
HOLIDAY_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s+(.*))?$")


class WidgetForm(forms.ModelForm):
    class Meta:
        model = Widget
        fields = ["name", "allowed_origins", "require_identity", "csat_enabled",
                  "csat_question"]
        widgets = {"allowed_origins": forms.Textarea(attrs={"rows": 3,
                   "placeholder": "https://www.example.com\nhttps://shop.example.com"})}
        help_texts = {"allowed_origins": "One origin per line (scheme, host and port). "
                      "Leave empty to allow any website.",
                      "require_identity": "Only visitors your site identifies (signed with "
                      "the secret below) can chat; the others are asked to log in.",
                      "csat_enabled": "When a conversation is resolved, the widget (or the "
                      "resolution e-mail) asks the visitor to rate it: five faces and an "
                      "optional comment.",
                      "csat_question": "The question above the faces."}

    def clean_csat_question(self) -> str:
        # An emptied field falls back to the default rather than asking nothing.
        return (self.cleaned_data.get("csat_question") or "").strip() or DEFAULT_CSAT_QUESTION

    def clean_allowed_origins(self) -> str:
        """Stored as browsers send them (widgets/origins.py): each line checked, the reasons
        of the first three refused shown."""
        lines = self.cleaned_data["allowed_origins"].split()
        if len(lines) > 50:
            raise forms.ValidationError("At most 50 origins.")
        origins, refused = [], []
        for line in lines:
            try:
                origins.append(parse_origin(line))
            except InvalidOrigin as error:
                refused.append(str(error))
        if refused:
            raise forms.ValidationError([forms.ValidationError(reason)
                                         for reason in refused[:3]])
        return "\n".join(dict.fromkeys(origins))


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


class LookForm(forms.ModelForm):
    """The widget's look and layout (B3, B4); images are checked here, stored on save."""

    launcher_logo_file = forms.FileField(
        required=False, label="Launcher logo",
        help_text="PNG, JPEG, GIF or WebP, at most 512 KB; a 20-px square is best (larger "
                  "images are scaled down).")
    remove_launcher_logo = forms.BooleanField(required=False, label="Remove the launcher logo")
    brand_logo_file = forms.FileField(
        required=False, label="Brand logo",
        help_text="Shown in the top-right corner of the open widget. PNG, JPEG, GIF or WebP, "
                  "at most 512 KB.")
    remove_brand_logo = forms.BooleanField(required=False, label="Remove the brand logo")

    class Meta:
        model = Widget
        fields = ["title", "alignment", "spacing_side", "spacing_bottom", "appearance",
                  "brand_color", "search_enabled"]
        labels = {"title": "Title (the greeting at the top)"}
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"}),
                   "alignment": forms.RadioSelect, "appearance": forms.RadioSelect,
                   "spacing_side": forms.NumberInput(attrs={"min": 0, "max": SPACING_MAX}),
                   "spacing_bottom": forms.NumberInput(attrs={"min": 0, "max": SPACING_MAX})}
        help_texts = {
            "spacing_side": f"From the aligned side of the page, 0–{SPACING_MAX} px.",
            "spacing_bottom": f"From the bottom of the page, 0–{SPACING_MAX} px.",
            "brand_color": "The header, the launcher and the visitor's messages. Their text "
                           "is white or black, whichever reads better on it.",
            "search_enabled": "Visitors can search your published help articles from the "
                              "widget.",
        }

    def clean_brand_color(self) -> str:
        try:
            return check_brand_color(self.cleaned_data.get("brand_color"))
        except AppearanceError as error:
            raise forms.ValidationError(error.message) from None

    def _image(self, field: str) -> CheckedFile | None:
        upload = self.cleaned_data.get(field)
        if not upload:
            return None
        try:
            return check_image(upload, upload.name)
        except AppearanceError as error:
            raise forms.ValidationError(error.message) from None

    def clean_launcher_logo_file(self) -> CheckedFile | None:
        return self._image("launcher_logo_file")

    def clean_brand_logo_file(self) -> CheckedFile | None:
        return self._image("brand_logo_file")


class CardForm(forms.ModelForm):
    """An announcement card on the widget's home (B4)."""

    image_file = forms.FileField(required=False, label="Image",
                                 help_text="Optional. PNG, JPEG, GIF or WebP, at most 2 MB.")
    # Checked here, so that a javascript: link gets its own reason (not "Enter a valid URL").
    link = forms.CharField(required=False, max_length=500,
                           help_text="Optional: where the card leads (https://…).")

    class Meta:
        model = WidgetCard
        fields = ["title", "description", "link"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def clean_link(self) -> str:
        link = (self.cleaned_data.get("link") or "").strip()
        if not link:
            return ""
        if urlsplit(link).scheme.lower() not in ("http", "https"):
            raise forms.ValidationError("Only http:// and https:// links are allowed.")
        try:
            URLValidator(schemes=["http", "https"])(link)
        except forms.ValidationError:
            raise forms.ValidationError("This is not a web address (https://…).") from None
        return link

    def clean_image_file(self) -> CheckedFile | None:
        upload = self.cleaned_data.get("image_file")
        if not upload:
            return None
        try:
            return check_image(upload, upload.name, limit=CARD_IMAGE_MAX_BYTES)
        except AppearanceError as error:
            raise forms.ValidationError(error.message) from None
