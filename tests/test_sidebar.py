"""M8: the sidebar's JSON (two companies), the collected browser details, the visit log and
the live visitor_page frame, and the generated visitor names."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from plug2support.conversations.models import Conversation
from plug2support.realtime.hub import hub
from plug2support.realtime.topics import company_topic
from plug2support.widgets.models import PageVisit, SiteVisitor, Visitor
from plug2support.widgets.names import generated_name
from plug2support.widgets.visits import PAGE_VISITS_KEPT

from .conftest import Tenant, logged_in_client

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")


def _session(tenant: Tenant, **body: Any) -> dict[str, Any]:
    answer = Client().post(f"/widget/api/{tenant.widget.key}/session", json.dumps(body),
                           content_type="application/json", HTTP_USER_AGENT=CHROME,
                           HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def _page(tenant: Tenant, url: str) -> None:
    answer = Client().post(f"/widget/api/{tenant.widget.key}/pageview", json.dumps(
        {"vid": "vid-12345678", "url": url, "title": url.rsplit("/", 1)[-1],
         "referrer": "https://search.example/"}), content_type="text/plain")
    assert answer.status_code == 200


def test_generated_names_are_stable_readable_and_distinct() -> None:
    names = {generated_name(pk) for pk in range(1, 3000)}
    assert len(names) == 2999
    assert generated_name(12) == generated_name(12)
    assert "#" not in generated_name(12) and " " in generated_name(12)


def test_sidebar_json_who_where_history(acme: Tenant, globex: Tenant,
                                        django_capture_on_commit_callbacks: Any,
                                        monkeypatch: Any) -> None:
    opened = _session(acme, timezone="Europe/Berlin", language="fr-CH")
    visitor = Visitor.objects.get(pk=opened["visitor"]["id"])
    assert visitor.user_agent == CHROME and visitor.time_zone == "Europe/Berlin"
    assert visitor.language == "fr-CH"
    assert opened["visitor"]["name"] == generated_name(visitor.pk)
    earlier = Conversation.objects.create(company=acme.company, widget=acme.widget,
                                          visitor=visitor, stage="resolved", subject="Old")
    current = Conversation.objects.create(company=acme.company, widget=acme.widget,
                                          visitor=visitor)
    _page(acme, "https://shop.example/a")
    SiteVisitor.objects.filter(vid="vid-12345678").update(visitor=visitor)
    published: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(hub, "publish", lambda topic, payload: published.append((topic, payload)))
    with django_capture_on_commit_callbacks(execute=True):
        _page(acme, "https://shop.example/b")
        _page(acme, "https://shop.example/b")  # a heartbeat: no page change
    assert [(t, p["type"], p["page"]["url"]) for t, p in published] == [
        (company_topic(acme.company.pk), "visitor_page", "https://shop.example/b")]
    assert published[0][1]["visitor"] == visitor.pk

    client = logged_in_client(acme.operators[0])
    data = client.get(f"/console/conversations/{current.pk}/sidebar.json").json()
    assert data["who"]["name"] == generated_name(visitor.pk)
    assert data["who"]["contact"] is None and data["who"]["org"] is None
    where = data["where"]
    assert where["current_page"]["url"] == "https://shop.example/b"
    assert [p["url"] for p in where["pages"]] == ["https://shop.example/b",
                                                 "https://shop.example/a"]
    assert where["browser"].startswith("Chrome 120") and where["os"].startswith("Linux")
    assert where["device"] == "Computer"  # ua-parser names phones; a desktop is "Other"
    assert where["time_zone"] == "Europe/Berlin" and where["local_time"]
    assert where["country"] == {"configured": False, "iso_code": None, "name": None}
    assert [h["id"] for h in data["history"]] == [earlier.pk]
    assert data["history"][0]["url"] == f"/inbox/{earlier.pk}/"
    # Another company's member: not found.
    other = logged_in_client(globex.operators[0])
    assert other.get(f"/console/conversations/{current.pk}/sidebar.json").status_code == 404


def test_bad_time_zone_and_language_are_not_collected(acme: Tenant) -> None:
    opened = _session(acme, timezone="Mars/Olympus", language="<script>")
    visitor = Visitor.objects.get(pk=opened["visitor"]["id"])
    assert visitor.time_zone == "" and visitor.language == "de-DE"


def test_page_log_is_bounded(acme: Tenant) -> None:
    for i in range(PAGE_VISITS_KEPT + 5):
        _page(acme, f"https://shop.example/p{i}")
    assert PageVisit.objects.count() == PAGE_VISITS_KEPT


def test_the_widget_hello_collects_the_browser(tenants: tuple[Tenant, Tenant],
                                               live: str) -> None:
    from .conftest import WS, ws_connect

    acme, _globex = tenants
    ws = WS(ws_connect(live, "/ws/widget"))
    ws.send({"type": "hello", "widget": acme.widget.key, "token": None,
             "language": "pt-BR", "timezone": "America/Sao_Paulo"})
    welcome = ws.recv()
    assert welcome["type"] == "welcome", welcome
    visitor = Visitor.objects.get(pk=welcome["visitor"]["id"])
    assert visitor.language == "pt-BR" and visitor.time_zone == "America/Sao_Paulo"
    assert visitor.user_agent  # the websockets client's own User-Agent header
    assert welcome["visitor"]["name"] == generated_name(visitor.pk)
    ws.close()
