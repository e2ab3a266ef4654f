"""The e-mail channel's records: where mail comes in (support addresses, connected
mailboxes), every message received (kept raw for a while, for audit and for a redelivery
to be stored once) and every message sent (its Message-ID threads the customer's reply)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from plug2support.accounts.models import Company
from plug2support.conversations.models import Conversation, Event
from plug2support.widgets.models import Widget

LOCAL_PART_MAX = 64


class SupportAddress(models.Model):
    """A company's inbound address, `<local_part>@INBOUND_EMAIL_DOMAIN` (F1). Mail to it
    opens conversations on `widget` (its routing and look); the business forwards its own
    address (`own_address`, used as the From of replies) here."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE,
                                related_name="support_addresses")
    local_part = models.CharField(max_length=LOCAL_PART_MAX, unique=True)
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="+")
    # The business's own support address ("support@maple.example"): replies go out From it.
    own_address = models.EmailField(blank=True, default="")
    # The name replies are signed with ("Alice at Maple Coffee"); empty: the company's.
    display_name = models.CharField(max_length=100, blank=True, default="")
    is_default = models.BooleanField(default=False)
    # "Send a test mail" (F1): the token the test carries, when it left and when it came back.
    test_token = models.CharField(max_length=32, blank=True, default="")
    test_sent_at = models.DateTimeField(null=True, blank=True)
    test_received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["company"], condition=Q(is_default=True),
                                    name="one_default_support_address"),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{settings.INBOUND_EMAIL_DOMAIN}"


class Security(models.TextChoices):
    SSL = "ssl", "SSL/TLS"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None (only on a trusted network)"


class MailboxConnection(models.Model):
    """A company's own mailbox fetched over IMAP (F4): new mail (by UID, under the folder's
    UIDVALIDITY) becomes InboundMail of `address`."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="mailboxes")
    address = models.ForeignKey(SupportAddress, on_delete=models.CASCADE, related_name="mailboxes")
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(max_length=10, choices=Security.choices, default=Security.SSL)
    username = models.CharField(max_length=254)
    # Encrypted with the server's key (lib/secretbox.py); never shown again once saved.
    password_encrypted = models.TextField()
    folder = models.CharField(max_length=200, default="INBOX")
    enabled = models.BooleanField(default=True)
    uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    last_uid = models.PositiveBigIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    failures = models.PositiveIntegerField(default=0)
    # Back-off after failures: not fetched again before this.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.username}@{self.host}/{self.folder}"


class Via(models.TextChoices):
    SMTP = "smtp", "SMTP gateway"
    WEBHOOK = "webhook", "Provider webhook"
    IMAP = "imap", "Connected mailbox"
    LOCAL = "local", "Sent by the product to itself"


class InboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSED = "processed", "In a conversation"
    IGNORED = "ignored", "Ignored (automatic mail)"
    BOUNCE = "bounce", "Delivery failure report"
    HELD = "held", "Held while the company is blocked"
    TEST = "test", "Test mail"
    FAILED = "failed", "Failed"


class InboundMail(models.Model):
    """One message received for a company, as it arrived (F5: kept for audit, deleted by
    retention). The Message-ID's key makes a redelivery one row."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="inbound_mail")
    address = models.ForeignKey(SupportAddress, on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="+")
    via = models.CharField(max_length=10, choices=Via.choices)
    provider = models.CharField(max_length=20, blank=True, default="")
    # The address it was delivered to (a support address or a reply+ address).
    recipient = models.CharField(max_length=254)
    sender = models.CharField(max_length=254, blank=True, default="")
    # sha256 of the normalised Message-ID (or of the raw bytes when it has none).
    message_key = models.CharField(max_length=64)
    message_id = models.TextField(blank=True, default="")
    raw = models.BinaryField()
    raw_truncated = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=InboundStatus.choices,
                              default=InboundStatus.QUEUED)
    reason = models.TextField(blank=True, default="")
    conversation = models.ForeignKey(Conversation, on_delete=models.SET_NULL, null=True,
                                     blank=True, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    # Fetched over IMAP: from which mailbox, under which UIDVALIDITY, which UID.
    mailbox = models.ForeignKey(MailboxConnection, on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="messages")
    uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    uid = models.PositiveBigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "message_key"],
                                    name="one_inbound_mail_per_message_id"),
        ]
        indexes = [
            models.Index(fields=["company", "sender", "received_at"]),
            models.Index(fields=["status", "received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.via} mail {self.pk} for {self.recipient}"


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    SUPPRESSED = "suppressed", "Not sent (the address bounces)"
    HELD = "held", "Not sent (the company is blocked)"
    FAILED = "failed", "Failed"


class OutboundMail(models.Model):
    """A reply of the team's sent by e-mail (F6): one per event, its Message-ID ours."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="outbound_mail")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="outbound_mail")
    message_key = models.CharField(max_length=64)
    message_id = models.TextField()
    to = models.TextField()
    cc = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=OutboundStatus.choices,
                              default=OutboundStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["company", "message_key"])]

    def __str__(self) -> str:
        return f"mail for event {self.event_id}"
