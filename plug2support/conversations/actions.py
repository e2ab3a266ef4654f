"""The only code that changes conversations: check_* validates, do_* writes.

Every write happens in one transaction that takes the next sequence number of the
conversation, stores the event, and publishes it only after commit (C8). Callers (socket
handlers, views) acknowledge to the client only after these functions return.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.utils import timezone

from plug2support.accounts.models import Membership, User
from plug2support.lib.ids import is_id
from plug2support.lib.ratelimit import hit
from plug2support.lib.rows import RowReader, current_connection, hot_cursor
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import (
    company_topic,
    conversation_topic,
    member_topic,
    staff_topic,
    visitor_topic,
)
from plug2support.widgets.models import (
    ProactiveInvite,
    SiteVisitor,
    Visitor,
    Widget,
    hash_token,
)
from plug2support.widgets.visits import INVITE_LIFETIME

from . import stages
from .first_message import Opening, lock_and_read, open_conversation
from .inbox import tags_from_json, tags_json_sql
from .models import (
    STAFF_ONLY_KINDS,
    Conversation,
    Event,
    EventKind,
    OperatorGroup,
    Sender,
    Stage,
    StageChange,
    Tag,
    TransferRequest,
    TransferStatus,
)
from .resend import CLIENT_ID_REUSED, same_message
from .serializers import conversation_summary, display_name, event_payload, user_ref

# A visitor may send this many messages per window; more gets a clear error (docs/protocol.md).
VISITOR_MESSAGES_PER_WINDOW = 30
VISITOR_MESSAGE_WINDOW_SECONDS = 60
CLIENT_ID_MAX = 64


class ConversationError(Exception):
    """A refused request. `code` is stable (docs/protocol.md); `message` is for people."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Posted:
    event: Event
    duplicate: bool  # True when the client id was already stored: nothing new was written


# --- visitors ---------------------------------------------------------------------------

NEW_VISITORS_PER_IP_PER_MINUTE = 60


def do_identify_visitor(widget: Widget, token: str | None,
                        ip: str = "") -> tuple[Visitor, str]:
    """The visitor a token names on this widget, or a new visitor and its new token."""
    if token:
        visitor = Visitor.objects.filter(widget=widget, token_hash=hash_token(token)).first()
        if visitor is not None:
            visitor.widget = widget  # callers (the socket) read it without a query
            return visitor, token
    if ip and not hit(f"visitor-new:{ip}", NEW_VISITORS_PER_IP_PER_MINUTE, 60):
        raise ConversationError(
            "rate_limited", f"Too many new visitors from this address: at most "
            f"{NEW_VISITORS_PER_IP_PER_MINUTE} a minute.", retry_after=60)
    token = secrets.token_urlsafe(32)
    visitor = Visitor.objects.create(widget=widget, token_hash=hash_token(token))
    return visitor, token


def current_conversation(visitor: Visitor) -> Conversation | None:
    """The conversation the widget shows: the visitor's latest one that is not archived (D4)."""
    return (
        Conversation.objects.filter(visitor=visitor)
        .exclude(stage=Stage.ARCHIVED)
        .select_related("assignee")
        .order_by("-created_at", "-id")
        .first()
    )


# --- messages ---------------------------------------------------------------------------

def check_attachments(attachments: object) -> list[object]:
    if attachments is None:
        return []
    if not isinstance(attachments, list):
        raise ConversationError("bad_attachments", "attachments must be a list of ids.")
    return attachments


def check_message(body: object, client_id: object,
                  attachments: list[object] | None = None) -> tuple[str, str]:
    """A message is text, attachments, or both."""
    if not isinstance(client_id, str) or not (1 <= len(client_id) <= CLIENT_ID_MAX):
        raise ConversationError(
            "invalid_client_id", f"client_id must be a string of 1 to {CLIENT_ID_MAX} characters."
        )
    if body is None and attachments:
        body = ""
    if not isinstance(body, str) or (not body.strip() and not attachments):
        raise ConversationError("empty_message", "A message needs some text.")
    limit = settings.MESSAGE_MAX_CHARS
    if len(body) > limit:
        raise ConversationError(
            "message_too_long", f"A message is at most {limit} characters.", limit=limit
        )
    return body.strip(), client_id


def _attach(event: Event, ids: list[object], uploader: Visitor | User) -> str:
    """Attach uploads to a new message (same transaction); returns a preview for the inbox."""
    from plug2support.attachments.actions import attachment_payload, do_attach
    from plug2support.attachments.validation import AttachmentError

    if not ids:
        event.attachment_payloads = []  # type: ignore[attr-defined]
        return event.body[:200]
    try:
        attached = do_attach(ids, event=event, uploader=uploader)
    except AttachmentError as error:
        raise ConversationError(error.code, error.message) from None
    event.attachment_payloads = [attachment_payload(a) for a in attached]  # type: ignore[attr-defined]
    return (event.body or f"Attachment: {attached[0].name}")[:200]


# One statement takes the next sequence number (every message runs it: written by hand, the
# ORM has no UPDATE … RETURNING; PostgreSQL and SQLite ≥ 3.35 both have it).
_NEXT_SEQ = (f"UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1, "  # noqa: S608
             "updated_at = %s WHERE id = %s RETURNING last_seq")  # (our table name; values bound)
# The same for a visitor's message without attachments, which also sets the inbox preview
# and the waiting time in the same statement (one statement less on the busiest path).
_NEXT_SEQ_VISITOR_MESSAGE = (
    f"UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1, "  # noqa: S608
    "updated_at = %s, preview = %s, reply_by_email = %s, "
    "waiting_since = COALESCE(waiting_since, %s) WHERE id = %s RETURNING last_seq")


# Every event is inserted by this statement (the ORM's create built it anew each time: a
# tenth of a visitor message's cost, bench/README.md).
_EVENT_COLUMNS = ("(conversation_id, seq, kind, sender, author_id, body, client_id, "
                  "staff_only, created_at)")
_INSERT_EVENT = (f"INSERT INTO {Event._meta.db_table} {_EVENT_COLUMNS} "  # noqa: S608
                 "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")


def _numbered_insert(next_seq: str) -> str:
    """PostgreSQL: the sequence number and the event in one statement, a round trip less a
    message (a writable WITH; SQLite has none). VALUES, not SELECT, so each parameter takes
    its column's type; the WITH runs once, and the row it locked is the caller's."""
    return (f"WITH n AS ({next_seq}) INSERT INTO {Event._meta.db_table} {_EVENT_COLUMNS} "  # noqa: S608
            "VALUES (%s, (SELECT last_seq FROM n), %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id, seq")


_NUMBERED_INSERT = _numbered_insert(_NEXT_SEQ)
_NUMBERED_VISITOR_MESSAGE = _numbered_insert(_NEXT_SEQ_VISITOR_MESSAGE)


def _append(conversation: Conversation, *, kind: str, sender: str, author: User | None = None,
            body: str = "", client_id: str | None = None,
            visitor_message: tuple[str, bool] | None = None) -> Event:
    """`visitor_message`: (preview, reply_by_email) of a visitor's message, set with the
    sequence number (`_NEXT_SEQ_VISITOR_MESSAGE`)."""
    # The UPDATE takes the row's write lock (PostgreSQL) inside the caller's transaction;
    # SQLite runs write transactions one at a time (transaction_mode=IMMEDIATE).
    connection = current_connection()
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    staff_only = kind in STAFF_ONLY_KINDS
    if visitor_message is None:
        next_seq, numbered, seq_params = _NEXT_SEQ, _NUMBERED_INSERT, [stamp, conversation.pk]
    else:
        next_seq, numbered = _NEXT_SEQ_VISITOR_MESSAGE, _NUMBERED_VISITOR_MESSAGE
        seq_params = [stamp, *visitor_message, stamp, conversation.pk]
    event_params = [kind, sender, author.pk if author else None, body, client_id, staff_only,
                    stamp]
    with hot_cursor(connection) as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(numbered, [*seq_params, conversation.pk, *event_params])
            event_id, seq = cursor.fetchone()
        else:
            cursor.execute(next_seq, seq_params)
            seq = cursor.fetchone()[0]
            cursor.execute(_INSERT_EVENT, [conversation.pk, seq, *event_params])
            event_id = cursor.fetchone()[0]
    conversation.last_seq = seq
    conversation.updated_at = now
    event = Event(id=event_id, conversation=conversation, seq=seq, kind=kind, sender=sender,
                  author=author, body=body, client_id=client_id, staff_only=staff_only,
                  created_at=now)
    event._state.adding, event._state.db = False, connection.alias
    return event


def _existing_message(conversation: Conversation, sender: str, client_id: str) -> Event | None:
    return (
        Event.objects.filter(conversation=conversation, sender=sender, client_id=client_id)
        .select_related("author")
        .first()
    )


def _resent(existing: Event, kind: str, text: str, ids: list[object]) -> Posted:
    """A stored client id again: the original ack for the same message, else a conflict."""
    if not same_message(existing, kind=kind, text=text, attachments=ids):
        raise ConversationError("client_id_reused", CLIENT_ID_REUSED)
    return Posted(existing, duplicate=True)


def _operator_resend(conversation: Conversation, client_id: str, user: User, kind: str,
                     text: str, ids: list[object]) -> Posted | None:
    """The same operator sending the same client id again gets the stored message back."""
    existing = _existing_message(conversation, Sender.OPERATOR, client_id)
    if existing is None:
        return None
    if existing.author_id != user.pk:
        raise ConversationError("invalid_client_id", "This client_id is already used.")
    return _resent(existing, kind, text, ids)


def _publish(conversation: Conversation, *events: Event) -> None:
    """Each event to its topic (team-only ones never to the visitor's), then the summary."""
    for event in events:
        topic = staff_topic if event.staff_only else conversation_topic
        publish_after_commit(topic(conversation.pk), event_payload(event))
    publish_after_commit(
        company_topic(conversation.company_id),
        {"type": "conversation", "conversation": conversation_summary(conversation)},
    )


def _locked_queryset() -> QuerySet[Conversation]:
    return (Conversation.objects.select_for_update(of=("self",))
            .select_related("assignee", "widget__company", "visitor", "group"))


def _locked(conversation_id: int) -> Conversation:
    return _locked_queryset().get(pk=conversation_id)


_CONVERSATION_ROW = RowReader(Conversation)
_ASSIGNEE_ROW = RowReader(User, ["id", "name", "email"])
_GROUP_ROW = RowReader(OperatorGroup, ["id", "name"])
_current_sql: dict[str, str] = {}


def _current_statement(connection: BaseDatabaseWrapper) -> str:
    """Written by hand and kept per database: Django built this query (a lock, two joins, a
    subquery) anew for every visitor message, a third of the message's CPU."""
    sql = _current_sql.get(connection.vendor)
    if sql is None:
        lock = " FOR UPDATE OF c" if connection.features.has_select_for_update_of else ""
        sql = (
            f"SELECT {_CONVERSATION_ROW.columns('c', connection)}, "  # noqa: S608
            f"{_ASSIGNEE_ROW.columns('u', connection)}, {_GROUP_ROW.columns('g', connection)}, "
            f"(SELECT e.id FROM {Event._meta.db_table} e WHERE e.conversation_id = c.id "
            f"AND e.sender = %s AND e.client_id = %s), ({tags_json_sql('c.id')}) "
            f"FROM {Conversation._meta.db_table} c "
            f"LEFT JOIN {User._meta.db_table} u ON u.id = c.assignee_id "
            f"LEFT JOIN {OperatorGroup._meta.db_table} g ON g.id = c.group_id "
            f"WHERE c.visitor_id = %s AND c.stage <> %s "
            f"ORDER BY c.created_at DESC, c.id DESC LIMIT 1{lock}")
        _current_sql[connection.vendor] = sql
    return sql


def _locked_current(visitor: Visitor, client_id: str) -> tuple[Conversation | None, int | None]:
    """current_conversation, locked, with the id of the visitor's message already stored
    under `client_id` in it (a resend) and its tags for the summary, in one statement: every
    visitor message runs it. None also when it was archived while we waited for the lock:
    the caller then takes the slow path. The visitor and its widget are the caller's."""
    connection = current_connection()
    with hot_cursor(connection) as cursor:
        cursor.execute(_current_statement(connection),
                       [Sender.VISITOR, client_id, visitor.pk, Stage.ARCHIVED])
        row = cursor.fetchone()
    if row is None:
        return None, None
    ends = len(_CONVERSATION_ROW), len(_CONVERSATION_ROW) + len(_ASSIGNEE_ROW)
    conversation = _CONVERSATION_ROW.read(row[:ends[0]], connection)
    assignee_values, group_values = row[ends[0]:ends[1]], row[ends[1]:-2]
    conversation.assignee = (_ASSIGNEE_ROW.read(assignee_values, connection)
                             if assignee_values[0] is not None else None)
    conversation.group = (_GROUP_ROW.read(group_values, connection)
                          if group_values[0] is not None else None)
    conversation.summary_tags = tags_from_json(row[-1])  # type: ignore[attr-defined]
    conversation.visitor = visitor
    conversation.widget = visitor.widget
    return conversation, row[-2]


_AFTER_VISITOR_MESSAGE = (f"UPDATE {Conversation._meta.db_table} SET preview = %s, "  # noqa: S608
                          "reply_by_email = %s, waiting_since = %s WHERE id = %s")


def _check_communication(company_id: int, *, operator: bool) -> None:
    """H6: a blocked company's widgets take no messages and its operators cannot send
    (a resend of a message stored before the block is still answered: checked after it)."""
    from plug2support.billing.access import communication_block

    reason = communication_block(company_id)
    if reason is None:
        return
    if operator:
        why = ("the traffic limit of this billing period was exceeded" if reason == "traffic"
               else "the paid period has expired")
        raise ConversationError(
            "communication_blocked",
            f"Sending is blocked because {why}. Conversations stay readable; the billing "
            "page shows how to lift it.", reason=reason)
    raise ConversationError("chat_unavailable", "The chat is unavailable at the moment.")


def do_post_visitor_message(visitor: Visitor, *, client_id: object, body: object,
                            offline: bool = False, attachments: object = None,
                            ip: str = "", honeypot: object = None,
                            none_seen: bool = False,
                            on_open: Callable[[int], None] | None = None) -> Posted:
    """C1/C8: store the visitor's message (creating the conversation on the first one).
    `none_seen`: the caller has seen no conversation of this visitor's (a widget socket
    following none), so the look for the current one is left to the visitor's lock, which
    finds one all the same if another tab has just opened it — a statement less.
    `on_open(id)`: called with the id of the conversation this message opens, inside the
    transaction, before anything of it is published (the transaction may still roll back)."""
    ids = check_attachments(attachments)
    text, cid = check_message(body, client_id, ids)
    with transaction.atomic():
        conversation, resent_id = (None, None) if none_seen else _locked_current(visitor, cid)
        if resent_id is not None:
            return _resent(Event.objects.select_related("author").get(pk=resent_id),
                           EventKind.MESSAGE, text, ids)
        opening = None
        if conversation is None:
            # Locking the visitor makes "first message creates the conversation" safe when
            # two tabs send at once: the second one finds the conversation the first created.
            opening = lock_and_read(visitor, timezone.now())
            if opening.current_id is not None:
                conversation = _locked(opening.current_id)
                existing = _existing_message(conversation, Sender.VISITOR, cid)
                if existing is not None:
                    return _resent(existing, EventKind.MESSAGE, text, ids)
        _check_communication(visitor.widget.company_id, operator=False)
        if not hit(f"visitor-msg:{visitor.pk}", VISITOR_MESSAGES_PER_WINDOW,
                   VISITOR_MESSAGE_WINDOW_SECONDS):
            raise ConversationError(
                "rate_limited",
                f"Too many messages: at most {VISITOR_MESSAGES_PER_WINDOW} per "
                f"{VISITOR_MESSAGE_WINDOW_SECONDS} seconds. Please wait a moment.",
                retry_after=VISITOR_MESSAGE_WINDOW_SECONDS,
            )
        reason = None
        # The preview of a message with attachments names them: set below.
        preview = "" if ids else text[:200]
        if conversation is None:
            from .spam import suspicion

            assert opening is not None
            reason = suspicion(text, honeypot=honeypot, visitor_id=visitor.pk, ip=ip,
                               recent_conversations=opening.recent)
            now = timezone.now()
            conversation, event = open_conversation(
                visitor, stage=Stage.SUSPENDED if reason else Stage.NEW,
                priority=opening.priority(now), body=text, client_id=cid, preview=preview,
                reply_by_email=offline, now=now)
            if on_open is not None:
                on_open(conversation.pk)
            publish_after_commit(visitor_topic(visitor.pk), {
                "type": "conversation_started", "conversation": {"id": conversation.pk}})
            first = True
            reply_by_email = offline
        else:
            first = False
            reply_by_email = conversation.reply_by_email or offline
            event = _append(conversation, kind=EventKind.MESSAGE, sender=Sender.VISITOR,
                            body=text, client_id=cid,
                            visitor_message=None if ids else (preview, reply_by_email))
        if reason:
            # Suspended: no routing, no notification; a reviewer releases it (D3).
            routed: Event | None = _append(conversation, kind=EventKind.SUSPECTED,
                                           sender=Sender.SYSTEM,
                                           body=f"Suspended by the spam filter: {reason}")
        else:
            routed = _route(conversation, text, opening) if first and opening else None
        conversation.preview = _attach(event, ids, visitor)
        moved = _auto_move(conversation, stages.after_customer_reply(conversation.stage),
                           "the customer replied")
        conversation.reply_by_email = reply_by_email
        conversation.waiting_since = conversation.waiting_since or event.created_at
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(_AFTER_VISITOR_MESSAGE, [
                    conversation.preview, conversation.reply_by_email,
                    connection.ops.adapt_datetimefield_value(conversation.waiting_since),
                    conversation.pk])
        _publish(conversation, *[e for e in (event, routed, moved) if e is not None])
    return Posted(event, duplicate=False)


def _route(conversation: Conversation, text: str, opening: Opening) -> Event | None:
    """D8: the first matching rule's operator or group gets the new conversation; without a
    match, the default owner of the visitor's customer org; else it stays in the pool (every
    online operator, first to claim). The rules are read only when the company has some."""
    from plug2support.notifications.actions import do_notify

    from .models import RoutingRule
    from .routing import first_match

    rule = None
    if opening.has_rules:
        rule = first_match(RoutingRule.objects.filter(company_id=conversation.company_id)
                           .select_related("target_user", "target_group"), text)
    url = f"/inbox/{conversation.pk}/"
    if rule is None:
        owner = opening.default_owner
        if owner is None:
            return None  # the pool
        Conversation.objects.filter(pk=conversation.pk).update(assignee=owner)
        conversation.assignee = owner
        do_notify(company_id=conversation.company_id, user_ids=[owner.pk], kind="routed",
                  title=f"New conversation from your customer: {text[:80]}", url=url)
        return _append(conversation, kind=EventKind.ROUTED, sender=Sender.SYSTEM,
                       body=f"Routed to {display_name(owner)} (the customer org's owner)")
    if rule.target_user is not None:
        if not Membership.objects.filter(company_id=conversation.company_id,
                                         user=rule.target_user).exists():
            return None  # the operator left the company: the pool takes it
        Conversation.objects.filter(pk=conversation.pk).update(assignee=rule.target_user)
        conversation.assignee = rule.target_user
        target, people = display_name(rule.target_user), [rule.target_user.pk]
    else:
        group = rule.target_group
        assert group is not None
        Conversation.objects.filter(pk=conversation.pk).update(group=group)
        conversation.group = group
        target, people = f"the {group.name} group", list(
            group.members.values_list("pk", flat=True))
    do_notify(company_id=conversation.company_id, user_ids=people, kind="routed",
              title=f"New conversation for {target}: {text[:80]}", url=url)
    return _append(conversation, kind=EventKind.ROUTED, sender=Sender.SYSTEM,
                   body=f"Routed to {target} (rule: {rule.name})")


def do_set_priority(membership: Membership, conversation: Conversation, priority: object) -> None:
    from .models import Priority

    if not is_id(priority) or priority not in Priority.values:
        raise ConversationError("invalid_priority", "priority is 0 (low) to 3 (urgent).")
    with transaction.atomic():
        locked = _locked(conversation.pk)
        if locked.priority == priority:
            return
        labels = dict(Priority.choices)
        Conversation.objects.filter(pk=locked.pk).update(priority=priority)
        event = _append(locked, kind=EventKind.PRIORITY, sender=Sender.SYSTEM,
                        author=membership.user,
                        body=f"{display_name(membership.user)}: {labels[locked.priority]} → "
                             f"{labels[priority]} priority")
        locked.priority = priority
        _publish(locked, event)


def _email_reply(conversation: Conversation, event: Event) -> None:
    """F2 (offline form part): the operator's reply also goes to the visitor by e-mail."""
    from plug2support.notifications.email import queue_templated_email

    queue_templated_email([conversation.visitor.email], "operator_reply", {
        "operator": display_name(event.author), "body": event.body,
        "company": conversation.widget.company.name if conversation.widget_id else "",
        "widget": conversation.widget.name})


def do_leave_offline_message(visitor: Visitor, *, client_id: object, body: object,
                             email: object, ip: str = "", honeypot: object = None) -> Posted:
    """C6: nobody is there. Keep the visitor's address and message, tell the team (console
    and e-mail); the operators' replies will be e-mailed to that address."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    if not isinstance(email, str) or len(email) > 254:
        raise ConversationError("invalid_email", "Give an e-mail address we can answer to.")
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ConversationError("invalid_email",
                                "Give an e-mail address we can answer to.") from None
    with transaction.atomic():
        Visitor.objects.filter(pk=visitor.pk).update(email=email)
        visitor.email = email
        from plug2support.contacts.actions import do_claim_email

        do_claim_email(visitor, email)  # an unverified claim: never merged into a verified one
        posted = do_post_visitor_message(visitor, client_id=client_id, body=body, offline=True,
                                         ip=ip, honeypot=honeypot)
        suspended = Conversation.objects.filter(pk=posted.event.conversation_id,
                                                stage=Stage.SUSPENDED).exists()
        if not posted.duplicate and not suspended:
            _notify_offline_message(visitor, posted.event)
    return posted


def _notify_offline_message(visitor: Visitor, event: Event) -> None:
    from plug2support.notifications.actions import do_notify

    company_id = visitor.widget.company_id
    members = Membership.objects.filter(company_id=company_id).values_list("user_id", flat=True)
    url = f"/inbox/{event.conversation_id}/"
    do_notify(company_id=company_id, user_ids=list(members), kind="offline_message",
              title=f"New message from {visitor.email}", body=event.body[:500], url=url,
              email_template="offline_message",
              email_context={"visitor_email": visitor.email, "body": event.body,
                             "widget": visitor.widget.name, "url": url})


def do_post_operator_message(
    membership: Membership, conversation: Conversation, *, client_id: object, body: object,
    attachments: object = None,
) -> Posted:
    """The serving operator replies. Replying to a waiting conversation claims it first."""
    ids = check_attachments(attachments)
    text, cid = check_message(body, client_id, ids)
    user = membership.user
    try:
        with transaction.atomic():
            locked = _locked(conversation.pk)
            resent = _operator_resend(locked, cid, user, EventKind.MESSAGE, text, ids)
            if resent is not None:
                return resent
            _check_communication(locked.company_id, operator=True)
            claimed = None
            if locked.assignee_id is None:
                _check_group(locked, membership)
                claimed = _claim(locked, user)
            elif locked.assignee_id != user.pk:
                raise _served_by_other(locked)
            event = _append(locked, kind=EventKind.MESSAGE, sender=Sender.OPERATOR,
                            author=user, body=text, client_id=cid)
            locked.preview = _attach(event, ids, user)
            locked.waiting_since = None  # the team has answered
            Conversation.objects.filter(pk=locked.pk).update(preview=locked.preview,
                                                             waiting_since=None)
            moved = _auto_move(locked, stages.after_team_reply(locked.stage), "the team replied")
            if locked.reply_by_email and locked.visitor.email:
                _email_reply(locked, event)
            _publish(locked, *[e for e in (claimed, event, moved) if e is not None])
    except IntegrityError:
        # Only a concurrent resend of the same client id gets here: return the stored one.
        existing = _existing_message(conversation, Sender.OPERATOR, cid)
        if existing is None:
            raise
        return _resent(existing, EventKind.MESSAGE, text, ids)
    return Posted(event, duplicate=False)


# --- claiming ---------------------------------------------------------------------------

def _served_by_other(conversation: Conversation) -> ConversationError:
    served_by = user_ref(conversation.assignee)
    name = served_by["name"] if served_by else "Another operator"
    return ConversationError(
        "already_served", f"{name} is already serving this visitor.", served_by=served_by)


def _claim(conversation: Conversation, user: User) -> Event:
    # A conditional UPDATE: of several operators claiming at once, exactly one changes the
    # row; the others see 0 rows and learn who won.
    won = Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True).update(
        assignee=user, updated_at=timezone.now()
    )
    if not won:
        conversation.refresh_from_db(fields=["assignee"])
        raise _served_by_other(conversation)
    conversation.assignee = user
    return _append(conversation, kind=EventKind.CLAIMED, sender=Sender.SYSTEM, author=user,
                   body=f"{display_name(user)} joined the conversation")


def _check_group(conversation: Conversation, membership: Membership) -> None:
    """A conversation routed to a group is claimed by its members (admins may reassign)."""
    if conversation.group_id is None or membership.is_admin:
        return
    if not conversation.group.members.filter(pk=membership.user_id).exists():  # type: ignore[union-attr]
        raise ConversationError(
            "routed_to_group", f"This conversation was routed to the "
            f"{conversation.group.name} group.")  # type: ignore[union-attr]


def do_claim(membership: Membership, conversation: Conversation) -> Event:
    """C2: the first operator to claim serves the visitor; the others are told who did."""
    with transaction.atomic():
        conversation = _locked(conversation.pk)
        if conversation.assignee_id == membership.user_id:
            raise ConversationError("already_yours", "You are already serving this visitor.")
        _check_group(conversation, membership)
        event = _claim(conversation, membership.user)
        _publish(conversation, event)
    return event



# --- private notes (C4) ---------------------------------------------------------------

def do_add_note(membership: Membership, conversation: Conversation, *, client_id: object,
                body: object, attachments: object = None) -> Posted:
    """Any operator of the company writes a note for the team; the visitor never sees it."""
    ids = check_attachments(attachments)
    text, cid = check_message(body, client_id, ids)
    user = membership.user
    with transaction.atomic():
        locked = _locked(conversation.pk)
        resent = _operator_resend(locked, cid, user, EventKind.NOTE, text, ids)
        if resent is not None:
            return resent
        event = _append(locked, kind=EventKind.NOTE, sender=Sender.OPERATOR, author=user,
                        body=text, client_id=cid)
        _attach(event, ids, user)
        _publish(locked, event)
    return Posted(event, duplicate=False)


# --- following, transfer and reassignment (C3) ------------------------------------------

def transfer_payload(request: TransferRequest) -> dict[str, object]:
    return {
        "id": request.pk,
        "conversation": request.conversation_id,
        "requested_by": user_ref(request.requested_by),
        "asked_of": user_ref(request.asked_of),
        "status": request.status,
        "created_at": request.created_at.isoformat(),
    }


def _publish_transfer(conversation: Conversation, request: TransferRequest) -> None:
    frame = {"type": "transfer", "request": transfer_payload(request)}
    for user_id in {request.requested_by_id, request.asked_of_id}:
        publish_after_commit(member_topic(conversation.company_id, user_id), frame)


def do_request_transfer(membership: Membership, conversation: Conversation) -> TransferRequest:
    """Ask the serving operator to hand the visitor over to me."""
    user = membership.user
    with transaction.atomic():
        locked = _locked(conversation.pk)
        if locked.assignee_id is None:
            raise ConversationError("not_served",
                                    "Nobody serves this visitor yet: claim the conversation.")
        if locked.assignee_id == user.pk:
            raise ConversationError("already_yours", "You are already serving this visitor.")
        if TransferRequest.objects.filter(conversation=locked, requested_by=user,
                                          status=TransferStatus.PENDING).exists():
            raise ConversationError("already_requested",
                                    "You already asked for this conversation; wait for the answer.")
        request = TransferRequest.objects.create(conversation=locked, requested_by=user,
                                                 asked_of_id=locked.assignee_id)
        event = _append(locked, kind=EventKind.TRANSFER_REQUESTED, sender=Sender.SYSTEM,
                        author=user, body=f"{display_name(user)} asked "
                        f"{display_name(locked.assignee)} to transfer the visitor")
        _publish(locked, event)
        _publish_transfer(locked, request)
        from plug2support.notifications.actions import do_notify

        do_notify(company_id=locked.company_id, user_ids=[request.asked_of_id],
                  kind="transfer_request",
                  title=f"{display_name(user)} asks to take over {locked.visitor.display_name}",
                  url=f"/inbox/{locked.pk}/")
    return request


def _close_other_requests(conversation: Conversation, keep: int | None = None) -> None:
    """Whoever asked for the visitor before it changed hands asked the wrong person now."""
    stale = TransferRequest.objects.filter(conversation=conversation,
                                           status=TransferStatus.PENDING)
    if keep is not None:
        stale = stale.exclude(pk=keep)
    stale = stale.select_related("requested_by", "asked_of")
    for request in stale:
        TransferRequest.objects.filter(pk=request.pk).update(
            status=TransferStatus.WITHDRAWN, decided_at=timezone.now())
        request.status = TransferStatus.WITHDRAWN
        _publish_transfer(conversation, request)


def _pending(request_id: int) -> TransferRequest:
    request = (TransferRequest.objects.select_for_update(of=("self",))
               .select_related("requested_by", "asked_of").get(pk=request_id))
    if request.status != TransferStatus.PENDING:
        raise ConversationError("transfer_closed",
                                f"This request was already {request.get_status_display().lower()}.")
    return request


def do_answer_transfer(membership: Membership, request: TransferRequest, *,
                       accept: bool) -> TransferRequest:
    """The serving operator accepts (the requester now serves) or declines."""
    user = membership.user
    with transaction.atomic():
        locked = _locked(request.conversation_id)
        request = _pending(request.pk)
        if request.asked_of_id != user.pk:
            raise ConversationError("not_yours", "Only the operator who was asked can answer.")
        if locked.assignee_id != user.pk:
            raise ConversationError("not_serving",
                                    "You no longer serve this conversation: nothing to hand over.")
        now = timezone.now()
        if accept:
            moved = Conversation.objects.filter(pk=locked.pk, assignee_id=user.pk).update(
                assignee=request.requested_by, updated_at=now)
            if not moved:  # pragma: no cover - the row is locked; kept as a guard
                raise ConversationError("not_serving", "You no longer serve this conversation.")
            locked.assignee = request.requested_by
            _close_other_requests(locked, keep=request.pk)
            status, kind = TransferStatus.ACCEPTED, EventKind.TRANSFER_ACCEPTED
            body = f"{display_name(request.requested_by)} took over from {display_name(user)}"
        else:
            status, kind = TransferStatus.DECLINED, EventKind.TRANSFER_DECLINED
            body = (f"{display_name(user)} declined to transfer the visitor to "
                    f"{display_name(request.requested_by)}")
        _decide(locked, request, status, kind, user, body)
    return request


def _decide(conversation: Conversation, request: TransferRequest, status: str, kind: str,
            author: User, body: str) -> None:
    """Close a transfer request: its status, a history event, and everyone concerned told."""
    TransferRequest.objects.filter(pk=request.pk).update(status=status,
                                                         decided_at=timezone.now())
    request.status = status
    event = _append(conversation, kind=kind, sender=Sender.SYSTEM, author=author, body=body)
    _publish(conversation, event)
    _publish_transfer(conversation, request)


def do_withdraw_transfer(membership: Membership, request: TransferRequest) -> TransferRequest:
    user = membership.user
    with transaction.atomic():
        locked = _locked(request.conversation_id)
        request = _pending(request.pk)
        if request.requested_by_id != user.pk:
            raise ConversationError("not_yours", "Only the operator who asked can withdraw.")
        _decide(locked, request, TransferStatus.WITHDRAWN, EventKind.TRANSFER_WITHDRAWN, user,
                f"{display_name(user)} withdrew the transfer request")
    return request


def do_reassign(membership: Membership, conversation: Conversation, to_user_id: object) -> Event:
    """Owners and admins hand a conversation to any operator of the company directly."""
    if not membership.is_admin:
        raise ConversationError("forbidden", "Only owners and admins can reassign.")
    if not is_id(to_user_id):
        raise ConversationError("not_found", "No such operator in this company.")
    target = (Membership.objects.filter(company_id=membership.company_id, user_id=to_user_id)
              .select_related("user").first())
    if target is None:
        raise ConversationError("not_found", "No such operator in this company.")
    with transaction.atomic():
        locked = _locked(conversation.pk)
        if locked.assignee_id == target.user_id:
            raise ConversationError("already_serving",
                                    f"{display_name(target.user)} already serves this visitor.")
        Conversation.objects.filter(pk=locked.pk).update(assignee=target.user,
                                                         updated_at=timezone.now())
        locked.assignee = target.user
        _close_other_requests(locked)
        from plug2support.notifications.actions import do_notify

        do_notify(company_id=locked.company_id, user_ids=[target.user_id], kind="reassigned",
                  title=f"{display_name(membership.user)} handed you "
                        f"{locked.visitor.display_name}", url=f"/inbox/{locked.pk}/")
        event = _append(locked, kind=EventKind.REASSIGNED, sender=Sender.SYSTEM,
                        author=membership.user,
                        body=f"{display_name(membership.user)} handed the visitor to "
                        f"{display_name(target.user)}")
        _publish(locked, event)
    return event



# --- delivered / read state (C4) -------------------------------------------------------

def do_record_receipt(conversation_id: int, *, side: str, delivered: object = None,
                      read: object = None) -> dict[str, int] | None:
    """Raise a side's delivered/read marks (never lower them, never past the last event).
    Returns the new marks when something changed (and publishes them), else None."""
    from .serializers import receipts

    marks = {"delivered": delivered, "read": read}
    changed = False
    with transaction.atomic():
        last_seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)
        for mark, value in marks.items():
            if not is_id(value) or value <= 0:
                continue
            value = min(value, last_seq)
            column = f"{side}_{mark}_seq"
            changed |= bool(Conversation.objects.filter(
                pk=conversation_id, **{f"{column}__lt": value}).update(**{column: value}))
        if not changed:
            return None
        conversation = Conversation.objects.get(pk=conversation_id)
        state = receipts(conversation)
        publish_after_commit(conversation_topic(conversation_id),
                             {"type": "receipt", "conversation": conversation_id, **state})
    return state



# --- operator-started conversations (C7) ------------------------------------------------

def _placeholder_visitor(widget: Widget, email: str = "") -> Visitor:
    """A visitor whose token nobody holds yet: adopted by the browser that accepts the
    invite, or reached only by e-mail."""
    return Visitor.objects.create(widget=widget, token_hash=hash_token(secrets.token_urlsafe(32)),
                                  email=email, placeholder=True)


def _start(membership: Membership, visitor: Visitor, *, client_id: object, body: object,
           reply_by_email: bool = False) -> Posted:
    conversation = current_conversation(visitor)
    if conversation is None:
        conversation = Conversation.objects.create(
            company_id=visitor.widget.company_id, widget=visitor.widget, visitor=visitor,
            reply_by_email=reply_by_email)
        publish_after_commit(visitor_topic(visitor.pk), {
            "type": "conversation_started", "conversation": {"id": conversation.pk}})
    return do_post_operator_message(membership, conversation, client_id=client_id, body=body)


def do_start_chat_with_site_visitor(membership: Membership, site_visitor: SiteVisitor, *,
                                    client_id: object, body: object) -> Posted:
    """Start a chat with someone on the site now; their loader opens the chat."""
    check_message(body, client_id)
    with transaction.atomic():
        visitor = site_visitor.visitor
        if visitor is None:
            visitor = _placeholder_visitor(site_visitor.widget)
            SiteVisitor.objects.filter(pk=site_visitor.pk).update(visitor=visitor)
            site_visitor.visitor = visitor
        posted = _start(membership, visitor, client_id=client_id, body=body)
        if not posted.duplicate:
            ProactiveInvite.objects.create(site_visitor=site_visitor,
                                           conversation_id=posted.event.conversation_id)
    return posted


def do_start_email_conversation(membership: Membership, widget: Widget, *, email: object,
                                client_id: object, body: object) -> Posted:
    """Write first to a known contact by e-mail: the message and the replies go by e-mail."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    if widget.company_id != membership.company_id:
        raise ConversationError("not_found", "No such widget.")
    if not isinstance(email, str):
        raise ConversationError("invalid_email", "Give the contact's e-mail address.")
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ConversationError("invalid_email", "Give the contact's e-mail address.") from None
    check_message(body, client_id)
    with transaction.atomic():
        visitor = (Visitor.objects.filter(widget=widget, email=email).order_by("-created_at")
                   .first()) or _placeholder_visitor(widget, email)
        conversation = current_conversation(visitor)
        if conversation is not None and not conversation.reply_by_email:
            Conversation.objects.filter(pk=conversation.pk).update(reply_by_email=True)
        return _start(membership, visitor, client_id=client_id, body=body, reply_by_email=True)


def do_accept_invite(widget: Widget, code: object, token: str | None, *,
                     proven: str | None = None) -> tuple[Visitor, str] | None:
    """The browser an operator invited opens the chat and takes over the conversation.

    The invite is to a site visitor (a vid), and whoever uses that browser now need not be
    who chatted there before (N7): a visitor some browser holds opens only for that browser
    (its token) or, when it is a verified user's, for that user `proven` by the site. Only a
    placeholder (nobody's yet) is adopted by any browser: it becomes the browser's visitor,
    or its conversation moves to the visitor the browser already has. Anyone else's invite
    is ignored (and stays unredeemed for its owner)."""
    from plug2support.contacts.actions import verified_user_of

    if not isinstance(code, str) or not code:
        return None
    with transaction.atomic():
        invite = (ProactiveInvite.objects.select_for_update()
                  .filter(code=code, site_visitor__widget=widget, accepted_at__isnull=True,
                          created_at__gte=timezone.now() - INVITE_LIFETIME)
                  .select_related("conversation__visitor").first())
        if invite is None:
            return None
        invited = invite.conversation.visitor
        bound = verified_user_of(invited)
        if bound not in (None, proven):
            return None
        own = (Visitor.objects.filter(widget=widget, token_hash=hash_token(token)).first()
               if token else None)
        if own is not None and own.pk == invited.pk:
            visitor, new_token = own, token or ""
        elif not invited.placeholder and bound is None:
            return None  # someone's anonymous visitor, and this browser is not theirs
        elif own is not None:
            Conversation.objects.filter(visitor=invited).update(visitor=own)
            invited.site_visits.update(visitor=own)
            visitor, new_token = own, token or ""
        else:
            new_token = secrets.token_urlsafe(32)
            Visitor.objects.filter(pk=invited.pk).update(token_hash=hash_token(new_token),
                                                         placeholder=False)
            visitor = invited
        ProactiveInvite.objects.filter(pk=invite.pk).update(accepted_at=timezone.now())
    visitor.widget = widget
    return visitor, new_token


def do_link_site_visitor(visitor: Visitor, vid: object) -> None:
    """The chat opened in a browser the loader knows: operators can reach it from the
    visitors list from now on."""
    if isinstance(vid, str) and vid:
        SiteVisitor.objects.filter(widget_id=visitor.widget_id, vid=vid).update(visitor=visitor)



# --- stages (D1–D6) --------------------------------------------------------------------

def _record_move(conversation: Conversation, to: str, by: User | None, why: str) -> Event:
    """The history row, the conversation's new stage in memory, and a team-only event."""
    from_stage = conversation.stage
    now = timezone.now()
    StageChange.objects.create(conversation=conversation, from_stage=from_stage,
                               to_stage=to, at=now, by=by)
    conversation.stage = to
    labels = dict(Stage.choices)
    who = display_name(by) if by else "Automatically"
    return _append(conversation, kind=EventKind.STAGE_CHANGED, sender=Sender.SYSTEM, author=by,
                   body=f"{who}: {labels[from_stage]} → {labels[to]} ({why})")


def _auto_move(conversation: Conversation, to: str | None, why: str) -> Event | None:
    """An automatic move inside the caller's transaction (the row is already locked)."""
    if to is None or to == conversation.stage:
        return None
    Conversation.objects.filter(pk=conversation.pk).update(stage=to)
    return _record_move(conversation, to, None, why)


def do_move_stage(membership: Membership, conversation: Conversation, to: object,
                  expected: object = None) -> Event:
    """A manual move, checked against the table. `expected` is the stage the operator saw:
    of two people moving the same conversation at once, only the first one wins."""
    labels = dict(Stage.choices)
    if not isinstance(to, str) or to not in labels:
        raise ConversationError("unknown_stage", f"Unknown stage; one of: {', '.join(labels)}.")
    with transaction.atomic():
        current = Conversation.objects.values_list("stage", flat=True).get(pk=conversation.pk)
        seen = expected if isinstance(expected, str) and expected in labels else current
        if seen != current:
            raise ConversationError("stage_conflict", f"Someone else just moved it to "
                                    f"{labels[current]}.", stage=current)
        if not stages.can_move(current, to):
            allowed = sorted(labels[s] for s in stages.MANUAL_MOVES[current])
            raise ConversationError(
                "illegal_move", f"A conversation in {labels[current]} cannot move to "
                f"{labels[to]}." + (f" Allowed: {', '.join(allowed)}." if allowed else
                                    " It is final."), stage=current)
        # Conditional: 0 rows means someone moved it between our read and this write.
        if not Conversation.objects.filter(pk=conversation.pk, stage=current).update(stage=to):
            latest = Conversation.objects.values_list("stage", flat=True).get(pk=conversation.pk)
            raise ConversationError("stage_conflict", f"Someone else just moved it to "
                                    f"{labels[latest]}.", stage=latest)
        locked = _locked(conversation.pk)
        locked.stage = current
        event = _record_move(locked, to, membership.user, "moved by hand")
        _publish(locked, event)
    return event



# --- tags (D7) --------------------------------------------------------------------------

TAG_NAME_MAX = 50
TAG_VALUE_MAX = 100


def ensure_built_in_tags(company_id: int) -> None:
    from .models import BUILT_IN_TAGS, VALUE_TAGS

    # A read on every call; the (write-locking) insert only for a company that lacks them.
    if Tag.objects.filter(company_id=company_id, built_in=True).count() == len(BUILT_IN_TAGS):
        return
    Tag.objects.bulk_create(
        [Tag(company_id=company_id, name=name, built_in=True, takes_value=name in VALUE_TAGS)
         for name in BUILT_IN_TAGS], ignore_conflicts=True)


def tags_for(company_id: int) -> list[Tag]:
    ensure_built_in_tags(company_id)
    return list(Tag.objects.filter(company_id=company_id))


def do_create_tag(membership: Membership, name: object) -> Tag:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > TAG_NAME_MAX:
        raise ConversationError("invalid_tag", f"A tag name is 1 to {TAG_NAME_MAX} characters.")
    name = " ".join(name.split())
    ensure_built_in_tags(membership.company_id)
    if Tag.objects.filter(company_id=membership.company_id, name__iexact=name).exists():
        raise ConversationError("tag_exists", f"The tag {name!r} already exists.")
    try:
        with transaction.atomic():
            return Tag.objects.create(company_id=membership.company_id, name=name)
    except IntegrityError:
        raise ConversationError("tag_exists", f"The tag {name!r} already exists.") from None


def _company_tag(membership: Membership, tag_id: object) -> Tag:
    if not is_id(tag_id):
        raise ConversationError("not_found", "No such tag in this company.")
    ensure_built_in_tags(membership.company_id)
    tag = Tag.objects.filter(pk=tag_id, company_id=membership.company_id).first()
    if tag is None:
        raise ConversationError("not_found", "No such tag in this company.")
    return tag


def do_tag(membership: Membership, conversation: Conversation, tag_id: object,
           value: object = "") -> Event:
    from .models import ConversationTag

    tag = _company_tag(membership, tag_id)
    text = value.strip() if isinstance(value, str) else ""
    if tag.takes_value and not text:
        raise ConversationError("value_required", f"{tag.name} needs a value, e.g. "
                                f"\"{tag.name}: refunded\".")
    if len(text) > TAG_VALUE_MAX:
        raise ConversationError("invalid_tag", f"A tag value is at most {TAG_VALUE_MAX} "
                                "characters.")
    with transaction.atomic():
        locked = _locked(conversation.pk)
        ConversationTag.objects.update_or_create(
            conversation=locked, tag=tag,
            defaults={"value": text if tag.takes_value else "", "added_by": membership.user})
        label = f"{tag.name}: {text}" if tag.takes_value else tag.name
        event = _append(locked, kind=EventKind.TAGGED, sender=Sender.SYSTEM,
                        author=membership.user,
                        body=f"{display_name(membership.user)} tagged it {label}")
        _publish(locked, event)
    return event


def do_untag(membership: Membership, conversation: Conversation, tag_id: object) -> Event:
    from .models import ConversationTag

    tag = _company_tag(membership, tag_id)
    with transaction.atomic():
        locked = _locked(conversation.pk)
        if not ConversationTag.objects.filter(conversation=locked, tag=tag).delete()[0]:
            raise ConversationError("not_tagged", f"It is not tagged {tag.name}.")
        event = _append(locked, kind=EventKind.UNTAGGED, sender=Sender.SYSTEM,
                        author=membership.user,
                        body=f"{display_name(membership.user)} removed the tag {tag.name}")
        _publish(locked, event)
    return event


# --- tickets and Hold dependencies (E1, E2, D2) -------------------------------------------

def ticket_payload(ticket: Any) -> dict[str, Any]:
    return {"id": ticket.pk, "title": ticket.title, "kind": ticket.kind,
            "needs_code_change": ticket.needs_code_change, "stage": ticket.stage,
            "tracker": ticket.tracker, "owner": user_ref(ticket.owner),
            "conversation": ticket.conversation_id}


def dependency_payload(dependency: Any) -> dict[str, Any]:
    return {"id": dependency.pk, "done": dependency.done,
            "ticket": ticket_payload(dependency.ticket) if dependency.ticket_id else None,
            "reviewer": user_ref(dependency.reviewer) if dependency.reviewer_id else None}


def do_open_ticket(membership: Membership, conversation: Conversation, *, title: object,
                   kind: object = "ticket", needs_code_change: object = False,
                   owner_id: object = None) -> Any:
    """E1: a ticket linked to the conversation, in the tracker its nature calls for."""
    from .models import Ticket, TicketKind

    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise ConversationError("invalid_ticket", "A ticket needs a title of 1 to 200 "
                                "characters.")
    if kind not in TicketKind.values:
        raise ConversationError("invalid_ticket", "kind is ticket or issue.")
    owner = membership.user
    if owner_id is not None:
        member = (Membership.objects.filter(company_id=membership.company_id, user_id=owner_id)
                  .select_related("user").first()
                  if is_id(owner_id) else None)
        if member is None:
            raise ConversationError("not_found", "No such operator in this company.")
        owner = member.user
    with transaction.atomic():
        locked = _locked(conversation.pk)
        ticket = Ticket.objects.create(
            company_id=locked.company_id, conversation=locked, title=title.strip(),
            kind=kind, needs_code_change=bool(needs_code_change), owner=owner,
            created_by=membership.user)
        tracker = ("Product Assist Tracker" if ticket.tracker == "product_assist"
                   else "Active Ticket Tracker")
        event = _append(locked, kind=EventKind.TICKET, sender=Sender.SYSTEM,
                        author=membership.user,
                        body=f"{display_name(membership.user)} opened #{ticket.pk} "
                             f"{ticket.title} ({tracker})")
        _publish(locked, event)
    return ticket


def do_hold(membership: Membership, conversation: Conversation, *, tickets: object = (),
            reviewers: object = (), expected: object = None) -> Event:
    """E2: put the conversation on Hold until its tickets close and its reviewers answer."""
    from .models import Dependency, Ticket

    ticket_ids = tickets if isinstance(tickets, list | tuple) else None
    reviewer_ids = reviewers if isinstance(reviewers, list | tuple) else None
    if ticket_ids is None or reviewer_ids is None or not (ticket_ids or reviewer_ids):
        raise ConversationError("no_dependencies",
                                "Name what it waits for: a ticket or a person's review.")
    if not all(is_id(i) for i in (*ticket_ids, *reviewer_ids)):
        raise ConversationError("not_found", "No such ticket or person in this company.")
    found = list(Ticket.objects.filter(company_id=membership.company_id,
                                       pk__in=[t for t in ticket_ids if isinstance(t, int)]))
    people = list(Membership.objects.filter(
        company_id=membership.company_id,
        user_id__in=[r for r in reviewer_ids if isinstance(r, int)]).values_list(
        "user_id", flat=True))
    if len(found) != len(set(ticket_ids)) or len(people) != len(set(reviewer_ids)):
        raise ConversationError("not_found", "No such ticket or person in this company.")
    with transaction.atomic():
        event = do_move_stage(membership, conversation, Stage.HOLD, expected)
        for ticket in found:
            Dependency.objects.create(conversation_id=conversation.pk, ticket=ticket,
                                      done=ticket.stage in ("done", "wont_do"))
        for user_id in people:
            Dependency.objects.create(conversation_id=conversation.pk, reviewer_id=user_id)
        from plug2support.notifications.actions import do_notify

        do_notify(company_id=membership.company_id, user_ids=people, kind="review",
                  title=f"{display_name(membership.user)} needs your review",
                  url=f"/inbox/{conversation.pk}/")
        _release_if_ready(conversation.pk)
    return event


def _release_if_ready(conversation_id: int) -> Event | None:
    """D2: when every dependency of a Hold conversation is complete, it needs a response;
    its serving operator is told."""
    from .models import Dependency

    locked = _locked(conversation_id)
    deps = Dependency.objects.filter(conversation_id=conversation_id)
    if locked.stage != Stage.HOLD or not deps.exists() or deps.filter(done=False).exists():
        return None
    moved = _auto_move(locked, Stage.NEEDS_RESPONSE, "its dependencies are complete")
    if moved is not None:
        _publish(locked, moved)
        if locked.assignee_id:
            from plug2support.notifications.actions import do_notify

            do_notify(company_id=locked.company_id, user_ids=[locked.assignee_id],
                      kind="hold_released",
                      title=f"{locked.visitor.display_name} needs a response: its "
                            "dependencies are complete", url=f"/inbox/{locked.pk}/")
    return moved


def do_set_ticket_stage(membership: Membership, ticket: Any, stage: object) -> Any:
    """Move a ticket; closing it completes the conversations waiting on it."""
    from .models import CLOSED_TICKET_STAGES, Dependency, Ticket, TicketStage

    if stage not in TicketStage.values:
        raise ConversationError("invalid_ticket", "Unknown ticket stage.")
    with transaction.atomic():
        closing = stage in CLOSED_TICKET_STAGES
        Ticket.objects.filter(pk=ticket.pk, company_id=membership.company_id).update(
            stage=stage, closed_at=timezone.now() if closing else None)
        ticket.stage = stage
        waiting = list(Dependency.objects.filter(ticket=ticket).values_list(
            "conversation_id", flat=True))
        Dependency.objects.filter(ticket=ticket).update(
            done=closing, done_at=timezone.now() if closing else None)
        for conversation_id in waiting:
            _release_if_ready(conversation_id)
    return ticket


def do_complete_review(membership: Membership, dependency: Any) -> None:
    """The named person says their review is done."""
    from .models import Dependency

    if dependency.reviewer_id != membership.user_id:
        raise ConversationError("not_yours", "Only the person asked for a review can "
                                "complete it.")
    with transaction.atomic():
        Dependency.objects.filter(pk=dependency.pk).update(done=True, done_at=timezone.now())
        _release_if_ready(dependency.conversation_id)
