"""Presence (C5): chosen status, several tabs and processes, the grace after the last socket
closes, dead processes, and what the widgets are told; two companies never mix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from plug2support.lib.errors import Refused
from plug2support.realtime import presence
from plug2support.realtime.models import ConsoleConnection

from .conftest import Tenant, make_tenant, open_operator, open_visitor


def status_of(tenant: Tenant, user: Any) -> str:
    return next(m["status"] for m in presence.presence_of(tenant.company.pk)
                if m["user"]["id"] == user.pk)


def test_an_operator_with_a_console_open_is_online_unless_they_say_otherwise(
        acme: Tenant, globex: Tenant) -> None:
    alice = acme.membership(acme.operators[0])
    assert not presence.operators_online(acme.company.pk)
    presence.connect(alice.pk)
    assert presence.operators_online(acme.company.pk)
    assert not presence.operators_online(globex.company.pk)  # the other company: nobody
    presence.do_set_status(alice, "away")
    assert not presence.operators_online(acme.company.pk)
    assert status_of(acme, alice.user) == "away"
    presence.do_set_status(alice, "offline")
    assert status_of(acme, alice.user) == "offline"
    presence.do_set_status(alice, "online")
    assert presence.operators_online(acme.company.pk)


def test_a_made_up_status_is_refused(acme: Tenant) -> None:
    alice = acme.membership(acme.operators[0])
    with pytest.raises(Refused) as error:
        presence.do_set_status(alice, "invisible")
    assert error.value.code == "invalid_status"
    alice.refresh_from_db()
    assert alice.status == "online"


def test_several_tabs_count_together(acme: Tenant) -> None:
    alice = acme.membership(acme.operators[0])
    first, second = presence.connect(alice.pk), presence.connect(alice.pk)
    presence.disconnect(first, alice.pk)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        presence.heartbeat()  # the other tab's process is alive and says so
        assert presence.operators_online(acme.company.pk)
    presence.disconnect(second, alice.pk)


def test_after_the_last_socket_closes_online_then_away_then_offline(acme: Tenant,
                                                                    settings: Any) -> None:
    settings.PRESENCE_GRACE_SECONDS, settings.PRESENCE_OFFLINE_SECONDS = 20, 300
    alice = acme.membership(acme.operators[0])
    connection = presence.connect(alice.pk)
    start = timezone.now()
    presence.disconnect(connection, alice.pk)
    with time_machine.travel(start + timedelta(seconds=10)):
        assert presence.operators_online(acme.company.pk)  # a reload's grace
    with time_machine.travel(start + timedelta(seconds=30)):
        assert not presence.operators_online(acme.company.pk)
        assert status_of(acme, alice.user) == "away"
    with time_machine.travel(start + timedelta(seconds=301)):
        assert status_of(acme, alice.user) == "offline"


def test_a_dead_process_stops_counting_and_is_cleaned_up(acme: Tenant, settings: Any) -> None:
    settings.PRESENCE_GRACE_SECONDS = 0
    alice = acme.membership(acme.operators[0])
    presence.connect(alice.pk)
    ConsoleConnection.objects.update(process="another-host:123:dead")
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.PRESENCE_STALE_SECONDS
                                                        + 5)):
        assert not presence.operators_online(acme.company.pk)
        presence.heartbeat()
    assert not ConsoleConnection.objects.exists()


# --- live, over the sockets ----------------------------------------------------------------

def test_the_widget_hears_availability_change_with_the_operators_status(
        live: str, settings: Any) -> None:
    settings.PRESENCE_GRACE_SECONDS = 0
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    visitor, welcome = open_visitor(live, acme.widget)
    assert welcome["availability"]["mode"] == "offline"  # nobody online yet
    alice = open_operator(live, acme.operators[0])
    frame = visitor.recv_until(lambda f: f["type"] == "availability")
    assert frame["availability"]["mode"] == "live"

    outsider = open_operator(live, globex.operators[0])  # another company's operator
    outsider.request({"type": "status", "status": "offline"})
    assert alice.request({"type": "status", "status": "away"})["status"] == "away"
    frame = visitor.recv_until(lambda f: f["type"] == "availability")
    assert frame["availability"] == {"mode": "offline", "open": True,
                                     "operators_online": False, "next_change": None}
    alice.request({"type": "status", "status": "online"})
    back = visitor.recv_until(lambda f: f["type"] == "availability")
    assert back["availability"]["mode"] == "live"
    bad = alice.request({"type": "status", "status": "busy"})
    assert bad["code"] == "invalid_status"
    asked = visitor.request({"type": "availability"})
    assert asked["type"] == "availability" and asked["availability"]["mode"] == "live"
    left = visitor.request({"type": "offline_message", "client_id": "o1", "email": "x@y.example",
                            "body": "Call me back"})
    assert left["type"] == "ack"
    bad_email = visitor.request({"type": "offline_message", "client_id": "o2", "email": "nope",
                                 "body": "Hi"})
    assert bad_email["code"] == "invalid_email"

    alice.close()  # the last console goes away: after the grace, the form
    frame = visitor.recv_until(lambda f: f["type"] == "availability")
    assert frame["availability"]["mode"] == "offline"
