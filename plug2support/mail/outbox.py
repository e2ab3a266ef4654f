"""The team's replies out by e-mail (F2, F6)."""

from __future__ import annotations

from plug2support.conversations.models import Conversation, Event
from plug2support.conversations.people import display_name
from plug2support.lib.mail import queue_templated_email


def queue_reply(conversation: Conversation, event: Event) -> None:
    queue_templated_email([conversation.visitor.email], "operator_reply", {
        "operator": display_name(event.author), "body": event.body,
        "company": conversation.widget.company.name if conversation.widget_id else "",
        "widget": conversation.widget.name})
