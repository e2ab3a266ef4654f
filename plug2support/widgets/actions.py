"""The only code that changes widgets."""

from __future__ import annotations

from django.db import transaction

from plug2support.accounts.models import Membership

from .forms import HoursForm, WidgetForm
from .models import Holiday, OpeningHours, Widget


def do_save_widget(membership: Membership, form: WidgetForm) -> Widget:
    from plug2support.realtime.hub import publish_after_commit

    from .cache import WIDGETS_TOPIC

    widget: Widget = form.save(commit=False)
    widget.company_id = membership.company_id
    widget.save()
    # Every process drops its cached entry of this widget (widgets/cache.py).
    publish_after_commit(WIDGETS_TOPIC, {"key": widget.key})
    return widget


def hours_initial(widget: Widget) -> dict[str, object]:
    initial: dict[str, object] = {"hours_enabled": widget.hours_enabled,
                                  "timezone": widget.timezone}
    for hours in widget.opening_hours.all():
        initial[f"opens_{hours.weekday}"] = hours.opens
        initial[f"closes_{hours.weekday}"] = hours.closes
    initial["holidays"] = "\n".join(f"{h.date.isoformat()} {h.name}".strip()
                                    for h in widget.holidays.all())
    return initial


@transaction.atomic
def do_save_hours(widget: Widget, form: HoursForm) -> None:
    data = form.cleaned_data
    widget.hours_enabled = data["hours_enabled"]
    widget.timezone = data["timezone"]
    widget.save(update_fields=["hours_enabled", "timezone"])
    widget.opening_hours.all().delete()
    OpeningHours.objects.bulk_create(
        OpeningHours(widget=widget, weekday=d, opens=o, closes=c) for d, o, c in data["intervals"])
    widget.holidays.all().delete()
    Holiday.objects.bulk_create(Holiday(widget=widget, date=d, name=n)
                                for d, n in data["holidays"])
    from plug2support.realtime.hub import publish_after_commit
    from plug2support.realtime.presence import publish_availability

    from .cache import WIDGETS_TOPIC

    # Every process drops the widget's cached hours (widgets/cache.py); then its open
    # widgets reload them and tell their visitors.
    publish_after_commit(WIDGETS_TOPIC, {"key": widget.key})
    transaction.on_commit(lambda: publish_availability(widget.company_id,
                                                       hours_changed=widget.pk))
