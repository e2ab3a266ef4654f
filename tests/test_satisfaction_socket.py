"""K2 over the widget socket: the question arrives live on resolution, the `rate` frame is
answered `rated` (a resend with its client_id as stored), the rating reaches the team's
socket live, and another visitor's or company's question is `not_found`."""

from __future__ import annotations

from typing import Any

from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.models import Conversation
from plug2support.satisfaction.models import Rating

from .conftest import open_operator, open_visitor


def test_a_visitor_rates_a_resolved_chat_over_the_socket(live: str, tenants: Any) -> None:
    acme, globex = tenants
    visitor, welcome = open_visitor(live, acme.widget)
    ack = visitor.request({"type": "message", "client_id": "m1", "body": "Help please"})
    conversation_id = ack["conversation"]
    operator = open_operator(live, acme.owner)
    operator.request({"type": "subscribe", "conversation": conversation_id, "after": 0})
    do_move_stage(acme.membership(acme.owner), Conversation.objects.get(pk=conversation_id),
                  "resolved")
    asked = visitor.recv_until(lambda f: f.get("type") == "event"
                               and f.get("kind") == "rating_asked")
    assert asked["details"] == {"question": "How would you rate this conversation?"}
    frame = {"type": "rate", "conversation": conversation_id, "asked": asked["seq"],
             "score": 2, "comment": "Slow", "client_id": "r1"}
    rated = visitor.request(frame)
    assert rated["type"] == "rated" and not rated["duplicate"], rated
    again = visitor.request(frame)  # the widget's resend after a reconnect
    assert again["type"] == "rated" and again["duplicate"] and again["seq"] == rated["seq"]
    other = visitor.request({**frame, "client_id": "r2", "score": 5})
    assert other["type"] == "error" and other["code"] == "already_rated"
    live_rating = operator.recv_until(lambda f: f.get("type") == "event"
                                      and f.get("kind") == "rating")
    assert live_rating["details"] == {"score": 2, "comment": "Slow", "asked": asked["seq"]}
    assert Rating.objects.get().score == 2
    # Another company's visitor cannot answer it, nor a bad frame break anything.
    stranger, _ = open_visitor(live, globex.widget)
    for bad in [{**frame, "client_id": "s1"}, {**frame, "asked": "x"},
                {**frame, "conversation": None}, {"type": "rate"}]:
        refused = stranger.request(bad)
        assert refused["type"] == "error" and refused["code"] == "not_found", refused
    assert Rating.objects.count() == 1
    for ws in (visitor, operator, stranger):
        ws.close()
