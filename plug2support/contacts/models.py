"""Contacts (identified visitors) and the customer orgs they belong to (B6, D8, D9).

A visitor becomes a contact when it is identified: by an e-mail address it gave (an
unverified claim) or by the site's user id signed with the widget's secret (verified).
Unverified contacts are never merged into verified ones: anyone can type an address.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from plug2support.accounts.models import Company
from plug2support.widgets.models import Visitor

USER_ID_MAX = 200
NAME_MAX = 150


class CustomerOrg(models.Model):
    """The organisation a contact belongs to (DevRev's "rev org"). Contacts join it by the
    domain of their e-mail address; its default owner gets its new conversations (D8)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE,
                                related_name="customer_orgs")
    name = models.CharField(max_length=200)
    # Lower-case e-mail domain ("example.com"); empty = contacts are not matched by domain.
    domain = models.CharField("e-mail domain", max_length=253, blank=True, default="")
    default_owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                      null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "customer org"
        constraints = [
            models.UniqueConstraint(fields=["company", "domain"], condition=~Q(domain=""),
                                    name="one_customer_org_per_domain"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(blank=True, default="")
    name = models.CharField(max_length=NAME_MAX, blank=True, default="")
    # The site's own user id, set only once its HMAC was checked (B6).
    external_id = models.CharField("site user id", max_length=USER_ID_MAX, null=True,
                                   blank=True)
    verified = models.BooleanField(default=False)
    org = models.ForeignKey(CustomerOrg, on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="contacts")
    # A delivery failure report for `email` (F3, F6): nothing is sent to it until it changes.
    email_bouncing_since = models.DateTimeField(null=True, blank=True)
    email_bounce_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["company", "external_id"],
                                    condition=Q(external_id__isnull=False),
                                    name="one_contact_per_site_user"),
            # One unverified contact per address: two claims of one address are one person.
            models.UniqueConstraint(fields=["company", "email"],
                                    condition=Q(verified=False) & ~Q(email=""),
                                    name="one_unverified_contact_per_email"),
            models.CheckConstraint(
                condition=Q(verified=True, external_id__isnull=False)
                | Q(verified=False, external_id__isnull=True),
                name="verified_contacts_have_a_site_user_id"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.email or f"User {self.external_id}"


class VisitorContact(models.Model):
    """Which contact a visitor turned out to be (kept apart so widgets need not know)."""

    visitor = models.OneToOneField(Visitor, on_delete=models.CASCADE,
                                   related_name="contact_link")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE,
                                related_name="visitor_links")
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"visitor {self.visitor_id} → {self.contact_id}"


# --- custom attributes and notes (M9) ------------------------------------------------------

ATTRIBUTE_KEY_MAX = 40
ATTRIBUTE_LABEL_MAX = 80
ATTRIBUTE_TEXT_MAX = 500
NOTE_MAX = 2000


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    YES_NO = "yes_no", "Yes/no"
    LIST = "list", "List of values"


class AttributeDefinition(models.Model):
    """A custom attribute an admin defined for the company's contacts (M9): what `identify`,
    operators and the API may set. Keys nobody defined are never created from outside."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE,
                                related_name="attribute_definitions")
    key = models.CharField(max_length=ATTRIBUTE_KEY_MAX)
    label = models.CharField(max_length=ATTRIBUTE_LABEL_MAX)
    type = models.CharField(max_length=10, choices=AttributeType.choices)
    # The values a list attribute accepts, in the admin's order ([] for the other types).
    choices = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["label", "pk"]
        constraints = [models.UniqueConstraint(fields=["company", "key"],
                                               name="one_attribute_per_key")]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class AttributeSource(models.TextChoices):
    # The site's identify with the attributes' own HMAC: the site vouched for them.
    VERIFIED = "verified", "Verified by the site"
    OPERATOR = "operator", "Operator"
    API = "api", "API"
    # identify without (or with a wrong) attributes HMAC: what the browser said, unchecked.
    CLAIM = "claim", "Unverified claim"


class AttributeValue(models.Model):
    """One contact's value of one attribute, as canonical text (attributes.canonical): the
    same text for the same value, so the inbox filter is one equality."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE,
                                related_name="attribute_values")
    definition = models.ForeignKey(AttributeDefinition, on_delete=models.CASCADE,
                                   related_name="values")
    text = models.CharField(max_length=ATTRIBUTE_TEXT_MAX)
    source = models.CharField(max_length=10, choices=AttributeSource.choices)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                               null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "definition"],
                                               name="one_value_per_contact_attribute")]
        indexes = [models.Index(fields=["definition", "text"])]  # the inbox filter

    def __str__(self) -> str:
        return f"{self.definition_id}={self.text}"


class UnknownAttribute(models.Model):
    """A key `identify` sent that no definition has (M9): ignored, and counted here for the
    admins (which key, how often, last seen), never turned into a definition."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE,
                                related_name="unknown_attributes")
    key = models.CharField(max_length=ATTRIBUTE_KEY_MAX)
    count = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["company", "key"],
                                               name="one_unknown_attribute_per_key")]

    def __str__(self) -> str:
        return f"{self.key} ×{self.count}"


class Note(models.Model):
    """A note operators keep on a contact or on a customer org (M9): exactly one of them."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="notes")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="notes")
    org = models.ForeignKey(CustomerOrg, on_delete=models.CASCADE, null=True, blank=True,
                            related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                               null=True, related_name="+")
    body = models.TextField(max_length=NOTE_MAX)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.CheckConstraint(
            condition=Q(contact__isnull=False, org__isnull=True)
            | Q(contact__isnull=True, org__isnull=False),
            name="a_note_is_on_a_contact_or_an_org")]

    def __str__(self) -> str:
        return self.body[:40]
