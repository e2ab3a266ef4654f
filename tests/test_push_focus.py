"""The operator socket's `focus` frame (M11): stored on its ConsoleConnection row, company
scoped (a foreign conversation is a 404 and nothing is stored)."""

from __future__ import annotations

from typing import Any

from plug2support.conversations.actions.messages import do_post_visitor_message
from plug2support.conversations.actions.visitors import do_identify_visitor
from plug2support.realtime.models import ConsoleConnection

from .conftest import open_operator


def test_focus_is_stored_and_company_scoped(live: str, tenants: Any) -> None:
    acme, globex = tenants
    visitor, _ = do_identify_visitor(acme.widget, None)
    conversation_id = do_post_visitor_message(visitor, client_id="c",
                                              body="hi").event.conversation_id
    ws = open_operator(live, acme.operators[0])
    answer = ws.request({"type": "focus", "conversation": conversation_id})
    assert answer == {"type": "focused", "ref": answer["ref"], "conversation": conversation_id}
    assert ConsoleConnection.objects.get(
        membership__user=acme.operators[0]).focused_conversation == conversation_id
    assert ws.request({"type": "focus", "conversation": None})["conversation"] is None
    other = open_operator(live, globex.operators[0])
    refused = other.request({"type": "focus", "conversation": conversation_id})
    assert refused["type"] == "error"
    assert ConsoleConnection.objects.get(
        membership__user=globex.operators[0]).focused_conversation is None
    ws.close()
    other.close()
