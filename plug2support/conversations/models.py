"""Conversations and their events (C1, C2, C8).

Every change to a conversation is an Event with a per-conversation sequence number taken
from `Conversation.last_seq`: a client that reconnects asks for the events after the last
number it saw, and the database answers exactly what it missed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.lookups import IsNull

from plug2support.accounts.models import Company
from plug2support.widgets.models import Visitor, Widget


class Stage(models.TextChoices):
    """D1. The moves between them are in stages.py; valid new conversations start in New."""

    NEW = "new", "New"
    SUSPENDED = "suspended", "Suspended"
    WAITING_ON_USER = "waiting_on_user", "Waiting on user"
    NEEDS_RESPONSE = "needs_response", "Needs response"
    HOLD = "hold", "Hold"
    RESOLVED = "resolved", "Resolved"
    ARCHIVED = "archived", "Archived"


class Priority(models.IntegerChoices):
    """D9: unidentified visitors come after known customers; the team can raise it."""

    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"
    URGENT = 3, "Urgent"


# The inbox (inbox/, D9): by priority, then the longest wait with nobody waiting last, then
# the latest change. "waiting_since IS NULL, waiting_since" is NULLS LAST spelt so that SQLite
# can read the order from an index too (it cannot for NULLS LAST after the first column).
# Each summary's sort_key is read from it (inbox/columns.SortKey).
INBOX_ORDER = (F("priority").desc(), IsNull(F("waiting_since"), True).asc(),
               F("waiting_since").asc(), F("updated_at").desc())
# What the "All open" view hides: the closed group (stages.py) and Suspended. The view and
# its partial index say it as one `NOT (stage = x)` per stage, not `NOT IN`: SQLite matches
# a partial index's terms one by one, and a bound parameter only outside an IN list.
HIDDEN_FROM_ALL_OPEN = (Stage.RESOLVED, Stage.ARCHIVED, Stage.SUSPENDED)
# What the view list counts (inbox/counts.py): a conversation waits unless it is closed
# (stages.GROUPS["closed"], which counts.py holds equal to this).
COUNTED_STAGES = tuple(s for s in Stage.values if s not in (Stage.RESOLVED, Stage.ARCHIVED))


def _all_open_condition() -> Q:
    condition = Q()
    for stage in HIDDEN_FROM_ALL_OPEN:
        condition &= ~Q(stage=stage)
    return condition


class Channel(models.TextChoices):
    """How the customer reaches the team in this conversation (F1): the team's replies go back
    the same way."""

    CHAT = "chat", "Chat"
    EMAIL = "email", "E-mail"


class Conversation(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="conversations")
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="conversations")
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    # The serving operator (C2); NULL while the conversation waits in the pool.
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                 null=True, blank=True, related_name="served_conversations")
    # Routed to a group (D8): only its members may claim it (admins may still reassign).
    group = models.ForeignKey("conversations.OperatorGroup", on_delete=models.SET_NULL,
                              null=True, blank=True, related_name="conversations")
    last_seq = models.PositiveBigIntegerField(default=0)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.LOW)
    # Since when the customer has been waiting for the team (their first unanswered
    # message); NULL when the team spoke last. The inbox orders by it (D9).
    waiting_since = models.DateTimeField(null=True, blank=True)
    # Delivered/read state (C4): the highest seq each side's client has received / shown.
    visitor_delivered_seq = models.PositiveBigIntegerField(default=0)
    visitor_read_seq = models.PositiveBigIntegerField(default=0)
    team_delivered_seq = models.PositiveBigIntegerField(default=0)
    team_read_seq = models.PositiveBigIntegerField(default=0)
    # The seq of the customer's latest message (M7): an operator whose read position is
    # below it has unread customer messages here (ReadPosition). Set by the event's own
    # UPDATE (hot_path.append_event), so telling unread costs no query.
    last_customer_seq = models.PositiveBigIntegerField(default=0)
    # Left through the offline form (C6): operator replies are also e-mailed to the visitor.
    reply_by_email = models.BooleanField(default=False)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.CHAT)
    # An e-mail conversation's subject (its first mail's, without "Re:"); empty for a chat.
    subject = models.CharField(max_length=255, blank=True, default="")
    preview = models.CharField(max_length=200, blank=True, default="")
    # M4: snoozed until then (a state beside the stage, docs/architecture.md "Snooze"): out
    # of the open views until the wake job (actions/snooze.py) or the customer's next
    # message clears it. NULL when not snoozed; `snoozed_by` is who asked.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # No index of its own: only a user's deletion looks conversations up by it.
    snoozed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # K3: the service target due soonest (plug2support.sla keeps both in step with its
    # clocks): when it is due while running (NULL when none runs; the inbox's "time left"
    # order), and the summary's `sla` object ({target, policy, due_at, warn_at, paused,
    # remaining_seconds, breached}). Copied here so the inbox list reads no other table.
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["company", "-updated_at"]),
            # Reports: a company's conversations created in a period (K5).
            models.Index(fields=["company", "created_at"], name="conv_company_created"),
            models.Index(fields=["visitor", "-created_at"]),
            # The inbox's list (inbox/), at any size: each of its views reads the first page
            # from one of these in order and stops there, with no sort: All, a stage filter,
            # Mine / Needs my reply / Unassigned / an owner filter, and All open.
            models.Index(F("company"), *INBOX_ORDER, name="conv_inbox_all"),
            models.Index(F("company"), F("stage"), *INBOX_ORDER, name="conv_inbox_stage"),
            models.Index(F("company"), F("assignee"), *INBOX_ORDER, name="conv_inbox_assignee"),
            # The view list's counts (inbox/counts.py): the company's conversations not
            # closed, by person, read from the index alone (7 200 rows of a company at
            # 1 000 000 conversations were 4 200 table pages; bench/view_counts.py). It
            # holds every column a view's terms read (tests/test_view_counts.py checks).
            models.Index(F("company"), F("assignee"), F("stage"), F("snoozed_until"),
                         name="conv_counts", condition=Q(stage__in=COUNTED_STAGES)),
            # Last on purpose: without ANALYZE statistics SQLite costs it the same as
            # conv_inbox_all for the All open view and takes the index created last.
            models.Index(F("company"), *INBOX_ORDER, name="conv_inbox_open",
                         condition=_all_open_condition()),
            # M4: the Snoozed view in order, and the wake job's look for what is due; both
            # partial, so they hold only the (few) snoozed conversations. Neither can serve
            # another view: their condition is never implied by one that wants them unset.
            models.Index(F("company"), *INBOX_ORDER, name="conv_inbox_snoozed",
                         condition=Q(snoozed_until__isnull=False)),
            models.Index(fields=["snoozed_until"], name="conv_snoozed_due",
                         condition=Q(snoozed_until__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"Conversation #{self.pk}"


class Sender(models.TextChoices):
    VISITOR = "visitor", "Visitor"
    OPERATOR = "operator", "Operator"
    SYSTEM = "system", "System"


class EventKind(models.TextChoices):
    MESSAGE = "message", "Message"
    NOTE = "note", "Private note"
    CLAIMED = "claimed", "Claimed"
    TRANSFER_REQUESTED = "transfer_requested", "Transfer requested"
    TRANSFER_ACCEPTED = "transfer_accepted", "Transfer accepted"
    TRANSFER_DECLINED = "transfer_declined", "Transfer declined"
    TRANSFER_WITHDRAWN = "transfer_withdrawn", "Transfer withdrawn"
    REASSIGNED = "reassigned", "Reassigned"
    ROUTED = "routed", "Routed"
    SUSPECTED = "suspected", "Suspected spam"
    TICKET = "ticket", "Ticket"
    DEPENDENCY = "dependency", "Dependency"
    PRIORITY = "priority", "Priority changed"
    STAGE_CHANGED = "stage_changed", "Stage changed"
    TAGGED = "tagged", "Tagged"
    UNTAGGED = "untagged", "Untagged"
    SNOOZED = "snoozed", "Snoozed"
    WOKEN = "woken", "Snooze ended"
    # K2: the visitor is asked to rate a resolution, and answers (plug2support/satisfaction).
    RATING_ASKED = "rating_asked", "Rating asked"
    RATING = "rating", "Rating"


# Kinds that concern the team only: never published to the visitor's topic, never in the
# widget's replay or HTTP API (C3, C4).
STAFF_ONLY_KINDS = frozenset({
    EventKind.NOTE, EventKind.TRANSFER_REQUESTED, EventKind.TRANSFER_DECLINED,
    EventKind.TRANSFER_WITHDRAWN, EventKind.STAGE_CHANGED, EventKind.TAGGED,
    EventKind.UNTAGGED, EventKind.ROUTED, EventKind.SUSPECTED, EventKind.TICKET,
    EventKind.DEPENDENCY, EventKind.PRIORITY, EventKind.SNOOZED, EventKind.WOKEN,
})


class Event(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    sender = models.CharField(max_length=10, choices=Sender.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="+")
    body = models.TextField(blank=True, default="")
    # The client's own id for the message: a resend with the same id is stored once (C8).
    client_id = models.CharField(max_length=64, null=True, blank=True)
    # True for notes and transfer negotiations: the visitor never sees these.
    staff_only = models.BooleanField(default=False)
    # A message that came or left by e-mail (F5, F8): subject, from, to, cc, the sanitised
    # HTML, the quoted history folded away, whether the sender's domain vouched for it.
    email = models.JSONField(null=True, blank=True)
    # The team's message or note rendered from its Markdown (knowledge/markdown.py, chat
    # flavour) when it is stored: once per message rather than once per read. NULL for a
    # visitor's message, a system event, and what was stored before messages were Markdown.
    html = models.TextField(null=True, blank=True)
    # What a kind carries beyond its text, for clients to draw it (K2): a rating question's
    # {"question"}, a rating's {"score", "comment", "asked"} (the seq of the question it
    # answers). NULL for every other kind. Not written by the hot path's INSERT: the
    # writer that needs it updates the new row in the same transaction.
    details = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="one_event_per_seq"),
            models.UniqueConstraint(fields=["conversation", "sender", "client_id"],
                                    condition=Q(client_id__isnull=False),
                                    name="one_message_per_client_id"),
        ]
        indexes = [
            # The traffic counter (billing/traffic.py) reads the visitors' messages of the
            # last month or so, of every company at once.
            models.Index(fields=["created_at"], name="visitor_messages_by_time",
                         condition=Q(kind="message", sender="visitor")),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.kind}"


class TransferStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"


class TransferRequest(models.Model):
    """An operator asks the serving operator to hand the visitor over (C3)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="transfer_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                     related_name="+")
    # Who served the conversation when asked: only they may answer, and only while they do.
    asked_of = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="+")
    status = models.CharField(max_length=10, choices=TransferStatus.choices,
                              default=TransferStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "requested_by"],
                                    condition=Q(status="pending"),
                                    name="one_pending_transfer_per_requester"),
        ]

    def __str__(self) -> str:
        return f"transfer of {self.conversation_id} to {self.requested_by_id} ({self.status})"


class StageChange(models.Model):
    """D6: every stage change, automatic or manual, for metrics and the history."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="stage_changes")
    # The conversation's company, copied: reports read a company's changes over a period
    # from one (company, at) index, not through a join of every conversation (K5).
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    at = models.DateTimeField()
    # NULL for a move the system made (a message, dependencies completing).
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           blank=True, related_name="+")

    class Meta:
        ordering = ["conversation_id", "at", "id"]
        indexes = [models.Index(fields=["conversation", "at"]),
                   models.Index(fields=["company", "at"], name="stage_change_company_at")]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.from_stage} → {self.to_stage}"


# D7: the seed's built-in tags. "Priority/Escalated" and "Fast/Slow Moving" are read as two
# tags each; "Resolution" carries a value ("Resolution: refunded").
BUILT_IN_TAGS = ("Stalled", "Priority", "Escalated", "Fast moving", "Slow moving", "Blocked",
                 "Resolution")
VALUE_TAGS = frozenset({"Resolution"})


class Tag(models.Model):
    """A company's tag: the built-in ones (created with the company) and its own."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)
    built_in = models.BooleanField(default=False)
    # A tag that needs a value when applied ("Resolution: refunded").
    takes_value = models.BooleanField(default=False)

    class Meta:
        ordering = ["-built_in", "name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"],
                                               name="one_tag_name_per_company")]

    def __str__(self) -> str:
        return self.name


class ConversationTag(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="links")
    value = models.CharField(max_length=100, blank=True, default="")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                 null=True, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "tag"],
                                               name="one_link_per_tag")]

    def __str__(self) -> str:
        return f"{self.tag}: {self.value}" if self.value else str(self.tag)


class OperatorGroup(models.Model):
    """A team within the company that routing rules can send conversations to (D8)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=80)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="operator_groups")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"],
                                               name="one_group_name_per_company")]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """D8: whole-word keywords in a new conversation's first message → an operator or a
    group. Rules are tried in `position` order; the first match wins."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="routing_rules")
    name = models.CharField(max_length=80)
    # One keyword (or phrase) per line, matched as whole words, case-insensitively.
    keywords = models.TextField()
    target_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                    null=True, blank=True, related_name="+")
    target_group = models.ForeignKey(OperatorGroup, on_delete=models.CASCADE, null=True,
                                     blank=True, related_name="rules")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.CheckConstraint(
            condition=(Q(target_user__isnull=False, target_group__isnull=True)
                       | Q(target_user__isnull=True, target_group__isnull=False)),
            name="rule_has_one_target")]

    def __str__(self) -> str:
        return self.name

    @property
    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.splitlines() if k.strip()]


class TicketKind(models.TextChoices):
    TICKET = "ticket", "Ticket"
    ISSUE = "issue", "Issue"


class TicketStage(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Won't do"


CLOSED_TICKET_STAGES = frozenset({TicketStage.DONE, TicketStage.WONT_DO})


class Ticket(models.Model):
    """E1: work opened from a conversation. No code change → the Active Ticket Tracker; a
    code change, or an issue → the Product Assist Tracker (work with product teams)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="tickets")
    conversation = models.ForeignKey(Conversation, on_delete=models.SET_NULL, null=True,
                                     blank=True, related_name="tickets")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=TicketKind.choices,
                            default=TicketKind.TICKET)
    needs_code_change = models.BooleanField(default=False)
    stage = models.CharField(max_length=12, choices=TicketStage.choices,
                             default=TicketStage.OPEN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="owned_tickets")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def tracker(self) -> str:
        if self.kind == TicketKind.ISSUE or self.needs_code_change:
            return "product_assist"
        return "active"


class Dependency(models.Model):
    """E2: what a conversation on Hold waits for: a ticket, or a named person's review."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="dependencies")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="dependents")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 null=True, blank=True, related_name="reviews")
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(
            condition=(Q(ticket__isnull=False, reviewer__isnull=True)
                       | Q(ticket__isnull=True, reviewer__isnull=False)),
            name="dependency_is_a_ticket_or_a_review")]

    def __str__(self) -> str:
        return f"{self.conversation_id} waits for {self.ticket or self.reviewer}"


class ReadPosition(models.Model):
    """M7: how far one operator has seen a conversation (the highest seq shown to them).
    Unread for them: the conversation's `last_customer_seq` above it. Written when their
    console shows the conversation (`seen` frame); one row per person who opened it."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="read_positions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    read_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation"],
                                               name="one_read_position_per_person")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} to {self.read_seq}"


class Mention(models.Model):
    """M3: a teammate named in a private note. Read once their console has shown the note
    (their read position passed its seq)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="mentions")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    seq = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "company", "-created_at"])]
        constraints = [models.UniqueConstraint(fields=["event", "user"],
                                               name="one_mention_per_note_and_person")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}#{self.seq}"


class SavedView(models.Model):
    """M7: a person's own named view: the inbox filters they saved, as the list's query
    parameters (checked by inbox.Filters.parse when saved and when used)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="saved_views")
    name = models.CharField(max_length=60)
    filters = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "user", "name"],
                                               name="saved_view_names_unique_per_person")]

    def __str__(self) -> str:
        return self.name
