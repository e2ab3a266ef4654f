"""`/ws/operator`: a console's socket, an operator's (by Django session). Its frames go to
`OperatorSocket.handlers`, each reading what it names through the member's company
(conversations/access.py) before the one action it asks for (docs/protocol.md §5)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth import get_user

from plug2support.accounts.current import SESSION_KEY, current_membership
from plug2support.accounts.twofactor import session_passes
from plug2support.conversations.access import (
    get_conversation_for_member,
    get_dependency_for_member,
    get_transfer_for_member,
    work_of,
)
from plug2support.conversations.actions.core import Posted
from plug2support.conversations.actions.messages import do_post_operator_message, do_record_receipt
from plug2support.conversations.actions.reading import do_mark_seen
from plug2support.conversations.actions.snooze import do_snooze, do_wake
from plug2support.conversations.actions.stages import do_move_stage
from plug2support.conversations.actions.tags import do_create_tag, do_tag, do_untag
from plug2support.conversations.actions.teamwork import (
    do_add_note,
    do_answer_transfer,
    do_claim,
    do_reassign,
    do_request_transfer,
    do_set_priority,
    do_withdraw_transfer,
)
from plug2support.conversations.actions.tickets import do_complete_review, do_hold, do_open_ticket
from plug2support.conversations.inbox.counts import (
    CountRows,
    company_counts,
    counts_frame,
    unread_mentions,
)
from plug2support.conversations.models import Conversation, TransferRequest
from plug2support.conversations.people import user_ref
from plug2support.conversations.serializers import transfer_payload
from plug2support.conversations.snapshot import inbox_snapshot, metrics_of, subscribed
from plug2support.lib.ids import is_id
from plug2support.notifications.actions import do_mark_read

from .. import presence
from ..asgi import Scope, header
from ..dbthreads import db
from ..sockets import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORISED,
    Connection,
    Handler,
    Socket,
    seq_from,
    spawn,
)
from ..topics import company_topic, conversation_topic, member_topic, session_topic, staff_topic
from .counts import VIEW_COUNTS

log = logging.getLogger(__name__)


class _SessionHolder:
    def __init__(self, session: Any) -> None:
        self.session = session


def _operator_for(scope: Scope) -> tuple[Any, str]:
    """The membership the session's user works in (None when logged out or without a
    company), and the session key."""
    cookie = SimpleCookie()
    cookie.load(header(scope, b"cookie") or "")
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None, ""
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(session_key=morsel.value)
    # get_user also checks the session's password hash: a changed password logs sockets out.
    user = get_user(_SessionHolder(session))  # type: ignore[arg-type]
    if not user.is_authenticated or not session_passes(user, session):
        return None, ""
    return current_membership(user.pk, session.get(SESSION_KEY)), morsel.value


# A console's subscribes are answered in batches of at most this many (one database call
# each); past SUBSCRIBES_WAITING not yet answered, the socket's other frames wait too.
SUBSCRIBE_BATCH = 100
SUBSCRIBES_WAITING = 1000


class OperatorSocket(Socket):
    """A console's socket. Its `subscribe` and `unsubscribe` frames are carried out in order
    on a lane of their own (`_subscriptions`), beside its other frames: a console that
    reconnects following many conversations subscribes to each again, and its replies must
    not wait behind those reads and their replays (bench/README.md, burst)."""

    __slots__ = ("membership", "session_key", "connection_id", "_subscriptions",
                 "_subscribing", "_room", "mentions_unread")
    staff = True

    def __init__(self, scope: Scope, connection: Connection) -> None:
        super().__init__(scope, connection)
        self.membership: Any = None
        self.session_key = ""
        self.connection_id = ""
        self._subscriptions: deque[dict[str, Any]] | None = None
        self._subscribing = False
        self._room: asyncio.Future[None] | None = None  # awaited while too many wait
        self.mentions_unread = 0  # the Mentions view's count, kept by `seen`/`mentioned`

    async def _follow_later(self, frame: dict[str, Any]) -> None:
        """A subscribe or unsubscribe (its handler): queued for the subscription lane."""
        queue = self._subscriptions
        if queue is None:
            queue = self._subscriptions = deque()
        queue.append(frame)
        if not self._subscribing:
            self._subscribing = True
            spawn(self._follow_all())
        if len(queue) >= SUBSCRIBES_WAITING and self._room is None:
            self._room = asyncio.get_running_loop().create_future()
            await self._room

    async def _follow_all(self) -> None:
        queue = self._subscriptions
        try:
            while queue and not self._closed:
                if queue[0]["type"] == "unsubscribe":
                    self._unsubscribe(queue.popleft())
                    continue
                batch: list[dict[str, Any]] = []
                while queue and queue[0]["type"] == "subscribe" and len(batch) < SUBSCRIBE_BATCH:
                    batch.append(queue.popleft())
                if self._room is not None and len(queue) < SUBSCRIBES_WAITING // 2:
                    self._room.set_result(None)
                    self._room = None
                answers = await db(subscribed)(
                    self.membership, [frame.get("conversation") for frame in batch])
                for frame, answer in zip(batch, answers, strict=True):
                    ref = frame.get("ref")
                    if answer is None:
                        self.send_error("not_found", "No such conversation.", ref=ref)
                        continue
                    self.send_json({"type": "subscribed", "ref": ref, **answer})
                    self.follow_conversation(answer["conversation"]["id"],
                                             seq_from(frame.get("after")))
        except Exception:
            log.exception("socket subscription failed")
            self.close(1011)
        finally:
            self._subscribing = False
            if self._room is not None:
                self._room.set_result(None)  # closed: the frame lane ends too
                self._room = None
            if not queue:
                self._subscriptions = None

    def _unsubscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = frame.get("conversation")
        if is_id(conversation_id):
            self.unfollow_conversation(conversation_id)
        self.send_json({"type": "unsubscribed", "ref": frame.get("ref"),
                        "conversation": conversation_id})

    async def authorise(self) -> bool:
        assert self.scope is not None
        self.membership, self.session_key = await db(_operator_for)(self.scope)
        return self.membership is not None

    def closed(self) -> None:
        if self.membership is not None:
            VIEW_COUNTS.leave(self.membership.company_id, self)
        if self.connection_id:
            spawn(self._went_away())

    async def _went_away(self) -> None:
        company_id = self.membership.company_id
        try:
            await db(presence.disconnect)(self.connection_id, self.membership.pk)
        except Exception as error:  # the process or its database is shutting down
            log.warning("presence disconnect for company %s failed: %s", company_id, error)
            return

        # Still counted as connected for the grace period (a reload does not flap the
        # widgets); tell everyone once it has passed.
        async def recheck() -> None:
            try:
                await db(presence.publish_availability)(company_id)
            except Exception as error:  # the process or its database is shutting down
                log.warning("presence recheck for company %s failed: %s", company_id, error)

        asyncio.get_running_loop().call_later(settings.PRESENCE_GRACE_SECONDS + 0.05,
                                              lambda: spawn(recheck()))

    async def opened(self) -> None:
        user = self.membership.user
        self.subscribe(company_topic(self.membership.company_id))
        self.subscribe(session_topic(self.session_key))
        self.subscribe(member_topic(self.membership.company_id, user.pk))
        self.send_json({
            "type": "welcome",
            "user": user_ref(user),
            "company": {"id": self.membership.company_id, "name": self.membership.company.name},
            "role": self.membership.role,
        })
        # A snapshot of the inbox on every (re)connect: whatever changed while this socket
        # was away is in it, then live "conversation" frames keep it current.
        # It goes through the ordered outbox, after any live frame queued while it was read.
        # Counted as connected from now on, before the snapshot: a visitor arriving once this
        # console has its inbox finds the operator online; the team and the widgets hear of it.
        self.connection_id = await db(presence.connect)(self.membership.pk)
        if self._closed:  # gone while it was counted: closed() could not undo it
            spawn(self._went_away())
            return
        await db(presence.publish_availability)(self.membership.company_id)
        snapshot = await db(inbox_snapshot)(self.membership)
        self._enqueue({"type": "inbox", **snapshot})
        # The view list's counts (M7), then kept live by the company's recounts.
        # Joined before counting, so a change made while the count runs is recounted.
        company_id = self.membership.company_id
        self.mentions_unread = await db(unread_mentions)(company_id, user.pk)
        if self._closed:  # gone meanwhile: closed() has already left
            return
        VIEW_COUNTS.join(company_id, self)
        counted = VIEW_COUNTS.latest(company_id)
        if counted is None:
            counted = await db(company_counts)(company_id)
            VIEW_COUNTS.keep(company_id, counted)
        self._enqueue(counts_frame(counted, user.pk, self.mentions_unread))

    # --- the frames (`handlers`): each reads what it names through the member's company ---
    async def _conversation(self, frame: dict[str, Any]) -> Conversation:
        return await db(get_conversation_for_member)(self.membership, frame.get("conversation"))

    async def _transfer(self, frame: dict[str, Any]) -> TransferRequest:
        return await db(get_transfer_for_member)(self.membership, frame.get("request"))

    async def handle_focus(self, frame: dict[str, Any]) -> None:
        """M11: what this console shows while its window has the focus (null: none), so
        Web Push skips alerts about it (push/sending.py); a foreign id is a 404."""
        conversation_id = None
        if frame.get("conversation") is not None:
            conversation_id = (await self._conversation(frame)).pk
        if self.connection_id:
            await db(presence.set_focus)(self.connection_id, conversation_id)
        self.send_json({"type": "focused", "ref": frame.get("ref"),
                        "conversation": conversation_id})

    async def handle_claim(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        event = await db(do_claim)(self.membership, conversation)
        self.send_json({"type": "claimed", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "seq": event.seq})

    async def handle_message(self, frame: dict[str, Any]) -> None:
        await self._post(frame, do_post_operator_message, email=frame.get("email"))

    async def handle_note(self, frame: dict[str, Any]) -> None:
        await self._post(frame, do_add_note, mentions=frame.get("mentions"))

    async def handle_seen(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        read_seq = await db(do_mark_seen)(self.membership, conversation, frame.get("seq"))
        self.send_json({"type": "seen", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "read_seq": read_seq})

    async def _post(self, frame: dict[str, Any], action: Callable[..., Posted],
                    **options: object) -> None:
        conversation = await self._conversation(frame)
        posted = await db(action)(
            self.membership, conversation, client_id=frame.get("client_id"),
            body=frame.get("body"), attachments=frame.get("attachments"), **options)
        self.send_json({"type": "ack", "ref": frame.get("ref"),
                        "client_id": posted.event.client_id, "conversation": conversation.pk,
                        "seq": posted.event.seq, "duplicate": posted.duplicate})

    async def handle_transfer_request(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        request = await db(do_request_transfer)(self.membership, conversation)
        self._send_transfer(frame, request)

    async def handle_transfer_accept(self, frame: dict[str, Any]) -> None:
        request = await self._transfer(frame)
        request = await db(do_answer_transfer)(self.membership, request, accept=True)
        self._send_transfer(frame, request)

    async def handle_transfer_decline(self, frame: dict[str, Any]) -> None:
        request = await self._transfer(frame)
        request = await db(do_answer_transfer)(self.membership, request, accept=False)
        self._send_transfer(frame, request)

    async def handle_transfer_withdraw(self, frame: dict[str, Any]) -> None:
        request = await self._transfer(frame)
        request = await db(do_withdraw_transfer)(self.membership, request)
        self._send_transfer(frame, request)

    def _send_transfer(self, frame: dict[str, Any], request: TransferRequest) -> None:
        self.send_json({"type": "transfer", "ref": frame.get("ref"),
                        "request": transfer_payload(request)})

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        user = self.membership.user
        # A note being written is for the team; a reply is heard by the visitor too.
        topic_of = staff_topic if frame.get("note") else conversation_topic
        self.publish_typing(topic_of(conversation.pk), conversation.pk,
                            {"type": "operator", "id": user.pk,
                             "name": user.name or user.email, "note": bool(frame.get("note"))})

    async def handle_receipt(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        await db(do_record_receipt)(conversation.pk, side="team",
                                    delivered=frame.get("delivered"),
                                    read=frame.get("read"))

    async def handle_status(self, frame: dict[str, Any]) -> None:
        await db(presence.do_set_status)(self.membership, frame.get("status"))
        await db(presence.publish_availability)(self.membership.company_id)
        self.send_json({"type": "status", "ref": frame.get("ref"),
                        "status": self.membership.status})

    async def handle_notifications_read(self, frame: dict[str, Any]) -> None:
        await db(do_mark_read)(self.membership.user_id, self.membership.company_id)
        self.send_json({"type": "notifications_read", "ref": frame.get("ref"), "unread": 0})

    async def handle_move(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        event = await db(do_move_stage)(self.membership, conversation,
                                        frame.get("to"), frame.get("expected"))
        self.send_json({"type": "moved", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "stage": frame.get("to"),
                        "seq": event.seq, "metrics": await db(metrics_of)(conversation)})

    async def handle_tag(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        event = await db(do_tag)(self.membership, conversation, frame.get("tag"),
                                 frame.get("value", ""))
        self.send_json({"type": "tagged", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "seq": event.seq})

    async def handle_untag(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        event = await db(do_untag)(self.membership, conversation, frame.get("tag"))
        self.send_json({"type": "untagged", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "seq": event.seq})

    async def handle_priority(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        await db(do_set_priority)(self.membership, conversation, frame.get("priority"))
        self.send_json({"type": "priority", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "priority": frame.get("priority")})

    async def handle_create_tag(self, frame: dict[str, Any]) -> None:
        tag = await db(do_create_tag)(self.membership, frame.get("name"))
        self.send_json({"type": "tag_created", "ref": frame.get("ref"),
                        "tag": {"id": tag.pk, "name": tag.name,
                                "takes_value": tag.takes_value}})

    async def handle_open_ticket(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        await db(do_open_ticket)(
            self.membership, conversation, title=frame.get("title"),
            kind=frame.get("kind", "ticket"),
            needs_code_change=frame.get("needs_code_change", False),
            owner_id=frame.get("owner"))
        await self._send_work(frame, conversation.pk)

    async def handle_hold(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        await db(do_hold)(self.membership, conversation,
                          tickets=frame.get("tickets", []),
                          reviewers=frame.get("reviewers", []),
                          expected=frame.get("expected"))
        await self._send_work(frame, conversation.pk)

    async def handle_complete_review(self, frame: dict[str, Any]) -> None:
        dependency = await db(get_dependency_for_member)(self.membership,
                                                         frame.get("dependency"))
        await db(do_complete_review)(self.membership, dependency)
        await self._send_work(frame, dependency.conversation_id)

    async def _send_work(self, frame: dict[str, Any], conversation_id: int) -> None:
        """The answer to a ticket, a hold or a review: the conversation's work as it is now."""
        self.send_json({"type": "work", "ref": frame.get("ref"), "conversation": conversation_id,
                        **await db(work_of)(conversation_id)})

    async def handle_reassign(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        event = await db(do_reassign)(self.membership, conversation, frame.get("to"))
        self.send_json({"type": "reassigned", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "seq": event.seq})

    async def handle_snooze(self, frame: dict[str, Any]) -> None:
        conversation = await self._conversation(frame)
        if frame.get("wake") is True:
            event = await db(do_wake)(self.membership, conversation)
        else:
            event = await db(do_snooze)(self.membership, conversation,
                                        until=frame.get("until"), preset=frame.get("preset"))
        # The event's conversation is the row as the action left it.
        until = event.conversation.snoozed_until
        self.send_json({"type": "snoozed", "ref": frame.get("ref"),
                        "conversation": conversation.pk, "seq": event.seq,
                        "snoozed_until": until.isoformat() if until else None})

    handlers: ClassVar[Mapping[str, Handler]] = {
        "subscribe": _follow_later,
        "unsubscribe": _follow_later,
        "claim": handle_claim,
        "focus": handle_focus,
        "message": handle_message,
        "note": handle_note,
        "transfer_request": handle_transfer_request,
        "transfer_accept": handle_transfer_accept,
        "transfer_decline": handle_transfer_decline,
        "transfer_withdraw": handle_transfer_withdraw,
        "typing": handle_typing,
        "receipt": handle_receipt,
        "seen": handle_seen,
        "status": handle_status,
        "notifications_read": handle_notifications_read,
        "move": handle_move,
        "tag": handle_tag,
        "untag": handle_untag,
        "priority": handle_priority,
        "create_tag": handle_create_tag,
        "open_ticket": handle_open_ticket,
        "hold": handle_hold,
        "complete_review": handle_complete_review,
        "reassign": handle_reassign,
        "snooze": handle_snooze,
    }

    def send_counts(self, counted: CountRows) -> None:
        self.send_json(counts_frame(counted, self.membership.user_id, self.mentions_unread))

    def other_now(self, payload: Mapping[str, Any]) -> bool:
        kind = payload.get("type")
        if kind == "session_ended":
            # Logged out (in any tab): this socket spoke for that session, so it ends too.
            self.close(CLOSE_UNAUTHORISED)
            return True
        if kind == "member_removed":
            # M10: removed from this company (their other companies' sockets stay open).
            self.close(CLOSE_FORBIDDEN)
            return True
        if kind == "conversation":
            VIEW_COUNTS.changed(self.membership.company_id)
        elif kind in ("seen", "mentioned"):  # my mentions read, or a new one: my count
            super().other_now(payload)
            self.mentions_unread = payload["mentions_unread"]
            counted = VIEW_COUNTS.latest(self.membership.company_id)
            if counted is not None:
                self.send_counts(counted)
            return True
        return super().other_now(payload)
