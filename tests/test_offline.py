"""Nobody there (C6): the offline form stores the visitor's address and message, notifies the
team on the console and by e-mail, and the operator's reply goes to the visitor by e-mail
(over a real SMTP server). Business-hours settings refuse what makes no sense."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.messages import (
    do_leave_offline_message,
    do_post_operator_message,
    do_post_visitor_message,
)
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.conversations.models import Conversation
from plug2support.notifications.models import Notification
from plug2support.widgets.models import Visitor, Widget

from .conftest import Inbox, Tenant, body_of, logged_in_client, open_visitor


def test_an_offline_message_reaches_the_team_and_the_reply_reaches_the_visitor_by_email(
        acme: Tenant, globex: Tenant, smtp: Inbox, settings: Any) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    posted = do_leave_offline_message(
        visitor, client_id="o1", email="Jane@Example.com", body="Do you deliver on Sundays?")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    assert conversation.reply_by_email and conversation.company == acme.company
    assert Visitor.objects.get(pk=visitor.pk).email == "jane@example.com"

    # Every member of Acme (and nobody at Globex) gets a console notification and an e-mail.
    acme_people = {acme.owner.pk, *(u.pk for u in acme.operators)}
    notified = set(Notification.objects.values_list("user_id", flat=True))
    assert notified == acme_people
    team_mail = {m["To"]: m for m in smtp.messages}
    assert set(team_mail) == {acme.owner.email, *(u.email for u in acme.operators)}
    one = team_mail[acme.owner.email]
    assert "jane@example.com" in one["Subject"]
    assert "Do you deliver on Sundays?" in body_of(one)
    assert "Do you deliver on Sundays?" in body_of(one, "html")

    smtp.messages.clear()
    alice = acme.membership(acme.operators[0])
    do_post_operator_message(alice, conversation, client_id="a1",
                             body="Yes, <b>every</b> Sunday morning.")
    [reply] = smtp.messages
    assert reply["To"] == "jane@example.com"
    assert acme.operators[0].name in reply["Subject"]
    assert "Yes, <b>every</b> Sunday morning." in body_of(reply)
    assert "Yes, &lt;b&gt;every&lt;/b&gt; Sunday morning." in body_of(reply, "html")


def test_a_resent_offline_message_is_stored_and_announced_once(acme: Tenant) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    for _ in range(2):
        do_leave_offline_message(visitor, client_id="same", email="a@b.example",
                                 body="Hello?")
    assert Conversation.objects.get().events.count() == 1
    assert Notification.objects.filter(user=acme.owner).count() == 1


@pytest.mark.parametrize("email", ["", "not-an-address", None, 42, "a@b"])
def test_an_offline_message_needs_an_address(acme: Tenant, email: Any) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    with pytest.raises(ConversationError) as error:
        do_leave_offline_message(visitor, client_id="x", email=email, body="Hi")
    assert error.value.code == "invalid_email"
    assert not Conversation.objects.exists() and not Notification.objects.exists()


def test_live_chat_replies_are_not_emailed(acme: Tenant, smtp: Inbox) -> None:
    visitor, _ = do_identify_visitor(acme.widget, None)
    posted = do_post_visitor_message(visitor, client_id="v", body="Hi")
    conversation = Conversation.objects.get(pk=posted.event.conversation_id)
    do_post_operator_message(acme.membership(acme.operators[0]), conversation,
                             client_id="a", body="Hello!")
    assert smtp.messages == []


# --- business hours settings ---------------------------------------------------------------

def hours_post(**overrides: str) -> dict[str, str]:
    data = {"save_hours": "1", "hours_enabled": "on", "timezone": "Europe/Paris",
            "holidays": "2026-12-25 Christmas\n2026-01-01"}
    for day in range(5):
        data[f"opens_{day}"], data[f"closes_{day}"] = "09:00", "17:30"
    data.update(overrides)
    return data


def test_an_admin_sets_business_hours_and_the_widget_follows_them(acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    response = owner.post(f"/settings/widgets/{acme.widget.pk}/", hours_post())
    assert response.status_code == 302
    widget = Widget.objects.get(pk=acme.widget.pk)
    schedule = widget.schedule()
    assert widget.timezone == "Europe/Paris" and widget.holidays.count() == 2
    assert schedule.is_open(datetime(2026, 12, 23, 16, 0, tzinfo=UTC))  # 17:00 Paris
    assert not schedule.is_open(datetime(2026, 12, 23, 16, 30, tzinfo=UTC))  # 17:30
    assert not schedule.is_open(datetime(2026, 12, 25, 10, 0, tzinfo=UTC))  # Christmas
    page = owner.get(f"/settings/widgets/{acme.widget.pk}/").content.decode()
    assert "2026-12-25 Christmas" in page and 'value="09:00"' in page


def test_saved_hours_reach_open_widgets_and_the_next_hello_at_once(live: str,
                                                                  acme: Tenant) -> None:
    """Each process caches a widget's hours for the sockets' hello (widgets/cache.py); saving
    them drops that cache everywhere before the open widgets are told."""
    first, welcome = open_visitor(live, acme.widget)
    assert welcome["availability"]["open"] is True  # no business hours: always open
    today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    owner = logged_in_client(acme.owner)
    response = owner.post(f"/settings/widgets/{acme.widget.pk}/",
                          hours_post(holidays=f"{today} Closed today"))
    assert response.status_code == 302
    told = first.recv_until(lambda f: f["type"] == "availability")
    assert told["availability"]["open"] is False
    _second, welcome = open_visitor(live, acme.widget)
    assert welcome["availability"]["open"] is False


@pytest.mark.parametrize("overrides,message", [
    ({"closes_0": "08:00"}, "closing time must be after the opening time"),
    ({"closes_2": ""}, "give both an opening and a closing time"),
    ({"timezone": "Mars/Olympus_Mons"}, "Select a valid choice"),
    ({"holidays": "25/12/2026"}, "Not a date"),
    ({"holidays": "2026-02-30 Nope"}, "Not a date"),
])
def test_hours_that_make_no_sense_are_refused_and_nothing_changes(
        acme: Tenant, overrides: dict[str, str], message: str) -> None:
    owner = logged_in_client(acme.owner)
    response = owner.post(f"/settings/widgets/{acme.widget.pk}/", hours_post(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    widget = Widget.objects.get(pk=acme.widget.pk)
    assert not widget.hours_enabled and widget.opening_hours.count() == 0


def test_hours_on_without_any_day_are_refused(acme: Tenant) -> None:
    data = {"save_hours": "1", "hours_enabled": "on", "timezone": "UTC", "holidays": ""}
    response = logged_in_client(acme.owner).post(f"/settings/widgets/{acme.widget.pk}/", data)
    assert "at least one day" in response.content.decode()


def test_another_companys_hours_cannot_be_set(acme: Tenant, globex: Tenant) -> None:
    response = logged_in_client(acme.owner).post(f"/settings/widgets/{globex.widget.pk}/",
                                                 hours_post())
    assert response.status_code == 404
    assert not Widget.objects.get(pk=globex.widget.pk).hours_enabled
    operator = logged_in_client(acme.operators[0])
    assert operator.post(f"/settings/widgets/{acme.widget.pk}/",
                         hours_post()).status_code == 403


@time_machine.travel(datetime(2026, 12, 25, 10, 0, tzinfo=UTC), tick=False)
def test_the_widget_is_closed_on_a_holiday_even_with_operators_online(acme: Tenant,
                                                                     client: Client) -> None:
    from plug2support.realtime import presence

    logged_in_client(acme.owner).post(f"/settings/widgets/{acme.widget.pk}/", hours_post())
    presence.connect(acme.membership(acme.operators[0]).pk)
    widget = Widget.objects.get(pk=acme.widget.pk)
    frame = presence.availability_frame(widget.schedule(),
                                        presence.operators_online(acme.company.pk))
    assert frame["availability"]["mode"] == "offline"
    assert frame["availability"]["operators_online"] is True
    assert frame["availability"]["open"] is False
    assert frame["availability"]["next_change"] == "2026-12-28T08:00:00+00:00"  # Monday 09:00


def test_open_widgets_follow_hours_saved_while_they_are_open(live: str) -> None:
    from .conftest import make_tenant, open_operator, open_visitor

    acme = make_tenant("Acme")
    open_operator(live, acme.operators[0])
    visitor, welcome = open_visitor(live, acme.widget)
    assert welcome["availability"]["mode"] == "live"
    # Hours that are not open now: only the day after tomorrow (in Kiribati's time).
    from zoneinfo import ZoneInfo

    later = (datetime.now(ZoneInfo("Pacific/Kiritimati")).weekday() + 2) % 7
    closed = hours_post(timezone="Pacific/Kiritimati", holidays="")
    for day in range(7):
        closed[f"opens_{day}"], closed[f"closes_{day}"] = "", ""
    closed[f"opens_{later}"], closed[f"closes_{later}"] = "09:00", "17:00"
    logged_in_client(acme.owner).post(f"/settings/widgets/{acme.widget.pk}/", closed)
    frame = visitor.recv_until(lambda f: f["type"] == "availability"
                               and not f["availability"]["open"])
    assert frame["availability"]["mode"] == "offline"
    assert frame["availability"]["next_change"] is not None
