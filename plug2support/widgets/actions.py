"""The only code that changes widgets."""

from __future__ import annotations

from django.db import transaction

from plug2support.accounts.models import Membership
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.presence import publish_availability

from .appearance import store_image
from .cache import WIDGETS_TOPIC
from .forms import CardForm, HoursForm, LookForm, WidgetForm
from .models import Holiday, OpeningHours, Widget, WidgetCard

CARDS_MAX = 10


def do_save_widget(membership: Membership, form: WidgetForm) -> Widget:
    widget: Widget = form.save(commit=False)
    widget.company_id = membership.company_id
    widget.save()
    # Every process drops its cached entry of this widget (widgets/cache.py).
    publish_after_commit(WIDGETS_TOPIC, {"key": widget.key})
    return widget


def _changed(widget: Widget) -> None:
    """Every process drops its cached configuration of this widget (widgets/cache.py)."""


    publish_after_commit(WIDGETS_TOPIC, {"key": widget.key})


@transaction.atomic
def do_save_look(widget: Widget, form: LookForm) -> Widget:
    """B3, B4: the look and layout; new images (checked by the form) are stored here."""
    data = form.cleaned_data
    widget = form.save(commit=False)
    for name, kind in (("launcher_logo", "launcher"), ("brand_logo", "brand")):
        if data.get(f"{name}_file") is not None:
            setattr(widget, name, store_image(data[f"{name}_file"], widget_key=widget.key,
                                              kind=kind))
        elif data.get(f"remove_{name}"):
            setattr(widget, name, "")
    widget.save()
    _changed(widget)
    return widget


class CardError(Exception):
    pass


@transaction.atomic
def do_add_card(widget: Widget, form: CardForm) -> WidgetCard:
    if widget.cards.count() >= CARDS_MAX:
        raise CardError(f"A widget shows at most {CARDS_MAX} cards; delete one first.")
    card: WidgetCard = form.save(commit=False)
    card.widget = widget
    card.position = (max(widget.cards.values_list("position", flat=True), default=-1) + 1)
    image = form.cleaned_data.get("image_file")
    if image is not None:
        card.image = store_image(image, widget_key=widget.key, kind="card")
    card.save()
    _changed(widget)
    return card


@transaction.atomic
def do_delete_card(widget: Widget, card: WidgetCard) -> None:
    card.delete()
    _changed(widget)


@transaction.atomic
def do_move_card(widget: Widget, card: WidgetCard, step: int) -> None:
    """One place up (step -1) or down (+1); the order is kept as 0, 1, 2 …"""
    cards = list(widget.cards.select_for_update().order_by("position", "pk"))
    index = next(i for i, c in enumerate(cards) if c.pk == card.pk)
    target = index + step
    if 0 <= target < len(cards):
        cards[index], cards[target] = cards[target], cards[index]
    for position, each in enumerate(cards):
        if each.position != position:
            WidgetCard.objects.filter(pk=each.pk).update(position=position)
    _changed(widget)


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


    # Every process drops the widget's cached hours (widgets/cache.py); then its open
    # widgets reload them and tell their visitors.
    publish_after_commit(WIDGETS_TOPIC, {"key": widget.key})
    transaction.on_commit(lambda: publish_availability(widget.company_id,
                                                       hours_changed=widget.pk))
