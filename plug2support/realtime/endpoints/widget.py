"""`/ws/widget`: the widget frame's socket, a visitor's (by visitor token). Its first frame is
the hello; the others go to `WidgetSocket.handlers` (docs/protocol.md §4)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from plug2support.contacts.actions import contact_summary, do_identify
from plug2support.contacts.identity import IdentityError
from plug2support.conversations.actions.core import ConversationError, Posted
from plug2support.conversations.actions.messages import (
    do_leave_offline_message,
    do_post_visitor_message,
    do_record_receipt,
)
from plug2support.conversations.actions.visitors import current_conversation
from plug2support.conversations.opening import do_open_for_hello
from plug2support.conversations.snapshot import welcome
from plug2support.lib import jsonin
from plug2support.lib.ids import is_id
from plug2support.satisfaction.rating import do_rate, request_for_visitor
from plug2support.widgets.cache import schedule_of
from plug2support.widgets.collect import collect_browser

from ..asgi import Scope, header
from ..dbthreads import db
from ..presence import availability_frame, availability_of
from ..sockets import (
    CLOSE_BAD_HELLO,
    CLOSE_NOT_FOUND,
    CLOSE_RATE_LIMITED,
    CLOSE_TIMEOUT,
    CLOSE_UNAUTHORISED,
    Close,
    Connection,
    FrameError,
    Handler,
    Socket,
    seq_from,
)
from ..topics import availability_topic, staff_topic, visitor_topic

HELLO_TIMEOUT_SECONDS = 10


class WidgetSocket(Socket):
    """The widget frame's socket. The frame is served from our origin, so the Origin check
    is the same as the console's; the customer site's origin is checked when the frame
    loads (CSP frame-ancestors) and on the config request. Its first frame is the hello."""

    __slots__ = ("visitor", "schedule", "proven", "_hello_timer", "_browser_headers")

    async def authorise(self) -> bool:
        # M8: the sidebar's browser details come from the socket's request headers, which
        # are dropped once the socket is open; kept until the hello names the visitor.
        scope = self.scope
        self._browser_headers = ({"User-Agent": header(scope, b"user-agent") or "",
                                  "Accept-Language": header(scope, b"accept-language") or ""}
                                 if scope is not None else {})
        return await super().authorise()

    def __init__(self, scope: Scope, connection: Connection) -> None:
        super().__init__(scope, connection)
        self.visitor: Any = None
        self.schedule: Any = None
        # N7: the site user id this socket proved (hello `identity` or `identify`), or None.
        self.proven: str | None = None
        self._hello_timer: asyncio.TimerHandle | None = None

    def current_conversation_id(self) -> int | None:
        """The conversation this visitor socket follows (the latest one)."""
        return max(self.sent_seq) if self.sent_seq else None

    async def opened(self) -> None:
        self._hello_timer = asyncio.get_running_loop().call_later(
            HELLO_TIMEOUT_SECONDS, self._no_hello)

    def _no_hello(self) -> None:
        self._hello_timer = None
        self.close(CLOSE_TIMEOUT)

    def closed(self) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None

    async def receive_frame(self, raw: str | bytes) -> None:
        if self.visitor is None:
            if self._hello_timer is not None:
                self._hello_timer.cancel()
                self._hello_timer = None
            await self._hello(raw)
        else:
            await super().receive_frame(raw)

    async def _hello(self, raw: str | bytes) -> None:
        try:
            hello = jsonin.loads(raw)
        except jsonin.BadJSON as bad:
            # Most likely a hello with a field the product cannot keep (a page's identity
            # with a lone surrogate): say so, and close with a code clients retry, unlike
            # 4401 (the client can send a better hello; the widget drops the identity).
            self.send_error("bad_frame", f"The hello must be JSON the product accepts; "
                                         f"{bad.reason}.")
            raise Close(CLOSE_BAD_HELLO) from None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            self.send_error("hello_required", "The first frame must be a hello.")
            raise Close(CLOSE_UNAUTHORISED)
        try:
            identified = await db(do_open_for_hello)(
                hello.get("widget"), hello.get("token"), identity=hello.get("identity"),
                invite=hello.get("invite"), vid=hello.get("vid"), ip=self.ip)
        except ConversationError as error:
            self.send_error(error.code, error.message, **error.details)
            raise Close(CLOSE_RATE_LIMITED) from None
        if identified is None:
            self.send_error("widget_not_found", "No widget has this key.")
            raise Close(CLOSE_NOT_FOUND)
        if self._closed:
            return
        opened, self.schedule = identified
        self.visitor, self.proven = opened.visitor, opened.proven
        await db(collect_browser)(self.visitor, getattr(self, "_browser_headers", {}), hello,
                                  self.ip)
        # Subscribed before reading the current conversation: one that another tab starts
        # in between is announced on this topic (after the welcome, which is held first).
        self.hold_deliveries()
        if self.may_read():
            self.subscribe(visitor_topic(self.visitor.pk))
        self.subscribe(availability_topic(self.visitor.widget.company_id))
        try:
            payload = await db(welcome)(opened, self.schedule, self.may_read())
            self.send_json(payload)
        finally:
            self.release_deliveries()
        conversation = payload["conversation"]
        if conversation is not None:
            # `after` counts in the conversation the client names; any other gets it all.
            after = hello.get("after")
            named = hello.get("conversation")
            same = is_id(named) and named == conversation["id"]
            after = seq_from(after) if same else 0
            self.follow_conversation(conversation["id"], after)

    def may_read(self) -> bool:
        """N7: a widget requiring identity serves only a socket that proved one."""
        return self.proven is not None or not self.visitor.widget.require_identity

    def _require_identity(self) -> None:
        if not self.may_read():
            raise FrameError("identity_required", "This chat is for the site's logged-in "
                                                  "users: log in on the site to chat.")

    # --- the frames (`handlers`) ---
    async def handle_typing(self, frame: dict[str, Any]) -> None:
        conversation_id = self.current_conversation_id()
        if conversation_id is None:
            return  # nothing to type into yet
        # Only the team hears the visitor typing.
        self.publish_typing(staff_topic(conversation_id), conversation_id,
                            {"type": "visitor", "name": self.visitor.display_name})

    async def handle_receipt(self, frame: dict[str, Any]) -> None:
        conversation_id = self.current_conversation_id()
        if conversation_id is None:
            return  # nothing to have read yet
        await db(do_record_receipt)(conversation_id, side="visitor",
                                    delivered=frame.get("delivered"),
                                    read=frame.get("read"))

    async def handle_identify(self, frame: dict[str, Any]) -> None:
        """B6: the site says who its logged-in user is, signed with the widget's secret."""
        def identified() -> dict[str, Any]:  # one trip to the database thread, not two
            return contact_summary(do_identify(
                self.visitor, user_id=frame.get("user_id"), user_hash=frame.get("user_hash"),
                email=frame.get("email"), name=frame.get("name"),
                attributes=frame.get("attributes"),
                attributes_hash=frame.get("attributes_hash")))

        try:
            summary = await db(identified)()
        except IdentityError as error:
            raise FrameError(error.code, error.message) from None
        could_read, self.proven = self.may_read(), frame["user_id"]
        self.send_json({"type": "identified", "ref": frame.get("ref"), "contact": summary})
        if not could_read:
            await self._unlocked()

    async def handle_availability(self, frame: dict[str, Any]) -> None:
        online, blocked = await db(availability_of)(self.visitor.widget.company_id)
        self.send_json({**availability_frame(self.schedule, online, blocked),
                        "ref": frame.get("ref")})

    async def handle_message(self, frame: dict[str, Any]) -> None:
        self._require_identity()
        opened: list[int] = []
        try:
            posted = await db(do_post_visitor_message)(
                self.visitor, client_id=frame.get("client_id"), body=frame.get("body"),
                attachments=frame.get("attachments"), ip=self.ip, honeypot=frame.get("website"),
                none_seen=not self.sent_seq,
                on_open=None if self.sent_seq else self._follow_opened(opened))
        except BaseException:
            for conversation_id in opened:  # rolled back: it does not exist
                self.unfollow_conversation(conversation_id)
            raise
        self._acked(frame, posted)

    async def handle_offline_message(self, frame: dict[str, Any]) -> None:
        self._require_identity()
        posted = await db(do_leave_offline_message)(
            self.visitor, client_id=frame.get("client_id"), body=frame.get("body"),
            email=frame.get("email"), ip=self.ip, honeypot=frame.get("website"))
        self._acked(frame, posted)

    async def handle_rate(self, frame: dict[str, Any]) -> None:
        """K2: the visitor answers the rating question `asked` (its event's seq) of their
        conversation; a resend with the same client_id is answered as stored."""
        self._require_identity()

        def rated() -> tuple[int, bool]:
            request = request_for_visitor(self.visitor.pk, frame.get("conversation"),
                                          frame.get("asked"))
            answer = do_rate(request, frame.get("score"), frame.get("comment"),
                             frame.get("client_id"))
            return answer.rating.seq, answer.duplicate

        seq, duplicate = await db(rated)()
        self.send_json({"type": "rated", "ref": frame.get("ref"),
                        "conversation": frame.get("conversation"), "seq": seq,
                        "duplicate": duplicate})

    handlers: ClassVar[Mapping[str, Handler]] = {
        "typing": handle_typing,
        "receipt": handle_receipt,
        "identify": handle_identify,
        "availability": handle_availability,
        "message": handle_message,
        "offline_message": handle_offline_message,
        "rate": handle_rate,
    }

    def _acked(self, frame: dict[str, Any], posted: Posted) -> None:
        """A message stored (after its commit): its conversation followed, and the ack."""
        event = posted.event
        if event.conversation_id not in self.sent_seq:
            self.follow_conversation(event.conversation_id, 0)
        self.send_json({"type": "ack", "ref": frame.get("ref"),
                        "client_id": event.client_id, "conversation": event.conversation_id,
                        "seq": event.seq, "duplicate": posted.duplicate})

    async def _unlocked(self) -> None:
        """Identified on a widget that requires it: the visitor's conversation opens now, as
        it would have at the hello (subscribed first, so none started meanwhile is missed)."""
        self.subscribe(visitor_topic(self.visitor.pk))
        conversation = await db(current_conversation)(self.visitor)
        if conversation is not None and conversation.pk not in self.sent_seq:
            self.send_json({"type": "conversation_started",
                            "conversation": {"id": conversation.pk}})
            self.follow_conversation(conversation.pk, 0)

    def _follow_opened(self, opened: list[int]) -> Callable[[int], None]:
        """`on_open` for the visitor's message (do_post_visitor_message): called on
        the database thread with the id of the conversation the message opens, before the
        commit that publishes its first events. The loop runs callbacks in the order they
        were posted, so this socket follows the conversation from seq 0 before any of its
        events is delivered, and needs no replay; another process's event can only come
        after that commit, so after this too."""
        loop = asyncio.get_running_loop()

        def on_open(conversation_id: int) -> None:
            opened.append(conversation_id)
            loop.call_soon_threadsafe(
                functools.partial(self.follow_conversation, conversation_id, 0, read=False),
                context=contextvars.Context())

        return on_open

    def other_now(self, payload: Mapping[str, Any]) -> bool:
        kind = payload.get("type")
        if kind == "_availability":
            if payload.get("hours_changed") == self.visitor.widget_id:
                return False  # the widget's hours changed: read them (on_other)
            self.send_json(availability_frame(self.schedule, payload["operators_online"],
                                              bool(payload.get("blocked"))))
            return True
        if kind == "conversation_started":
            # Another tab of this visitor started the conversation: follow it here too.
            if payload["conversation"]["id"] not in self.sent_seq:
                self.send_json(payload)
                self.follow_conversation(payload["conversation"]["id"], 0)
            return True
        return super().other_now(payload)

    async def on_other(self, payload: Mapping[str, Any]) -> None:
        # Only an availability notice with new hours gets here.
        self.schedule = await db(schedule_of)(self.visitor.widget_id)
        self.send_json(availability_frame(self.schedule, payload["operators_online"],
                                          bool(payload.get("blocked"))))
