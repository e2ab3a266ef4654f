"""Custom attributes of contacts (M9): the company's definitions, their values' checks, and
the one write of a value (`do_set_attribute`) that operators, `identify` and the API use.

A value is stored as canonical text (the same text for the same value: `12` and `12.0` are
"12", yes is "true"), so the inbox filter is one equality. Where it came from is kept: a
value the site vouched for (identify with the attributes' HMAC) is `verified`; identify
without that HMAC is a `claim`, which never overwrites a value from any other source."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from plug2support.accounts.models import Membership, User
from plug2support.lib.text import has_controls

from .models import (
    ATTRIBUTE_KEY_MAX,
    ATTRIBUTE_LABEL_MAX,
    ATTRIBUTE_TEXT_MAX,
    AttributeDefinition,
    AttributeSource,
    AttributeType,
    AttributeValue,
    Contact,
    UnknownAttribute,
)

KEY_RE = re.compile(rf"[a-z][a-z0-9_]{{0,{ATTRIBUTE_KEY_MAX - 1}}}")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
DEFINITIONS_MAX = 100
CHOICES_MAX = 50
CHOICE_MAX = 100
# identify sends at most this many attributes; unknown keys are counted up to this many
# distinct keys a company (a site sending random keys cannot grow the table without end).
IDENTIFY_ATTRIBUTES_MAX = 50
UNKNOWN_KEYS_MAX = 200
NUMBER_DIGITS_MAX = 20
TRUE_WORDS = ("true", "yes")
FALSE_WORDS = ("false", "no")
HINTS = {
    AttributeType.TEXT: "give text of at most 500 characters",
    AttributeType.NUMBER: "give a number such as 12 or 3.5",
    AttributeType.DATE: "give a date as YYYY-MM-DD",
    AttributeType.YES_NO: "give true or false (yes or no)",
}


class AttributeError_(Exception):  # noqa: N801 (AttributeError is Python's own)
    """A refused attribute write or definition. `code` is stable; `message` names the
    attribute and its type, for the person or the site's developer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- values ---------------------------------------------------------------------------------

def type_label(definition: AttributeDefinition) -> str:
    return str(AttributeType(definition.type).label).lower()


def _refuse(definition: AttributeDefinition) -> AttributeError_:
    if definition.type == AttributeType.LIST:
        hint = "one of " + ", ".join(definition.choices)
    else:
        hint = HINTS[AttributeType(definition.type)]
    return AttributeError_("bad_value", f"{definition.label} ({definition.key}) is a "
                                        f"{type_label(definition)}: {hint}.")


def _number(raw: object) -> str | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        raw = repr(raw)
    if not isinstance(raw, str) or len(raw) > 2 * NUMBER_DIGITS_MAX:
        return None
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number == 0:
        return "0"
    number = number.normalize()
    if not -NUMBER_DIGITS_MAX < number.adjusted() < NUMBER_DIGITS_MAX \
            or len(number.as_tuple().digits) > NUMBER_DIGITS_MAX:
        return None
    return format(number, "f")


def canonical(definition: AttributeDefinition, raw: object) -> str:
    """The canonical text of `raw` as a value of `definition`, or AttributeError_
    (bad_value, naming the attribute and its type). Empty input is not a value (clear)."""
    kind = definition.type
    if kind == AttributeType.NUMBER:
        text = _number(raw)
    elif kind == AttributeType.YES_NO:
        word = raw.strip().lower() if isinstance(raw, str) else raw
        text = ("true" if word is True or word in TRUE_WORDS
                else "false" if word is False or word in FALSE_WORDS else None)
    elif not isinstance(raw, str):
        text = None
    elif kind == AttributeType.DATE:
        text = raw.strip()
        try:
            ok = bool(DATE_RE.fullmatch(text)) and bool(date.fromisoformat(text))
        except ValueError:
            ok = False
        text = text if ok else None
    elif kind == AttributeType.LIST:
        text = raw.strip() if raw.strip() in definition.choices else None
    else:
        text = " ".join(raw.split())
        if not text or len(text) > ATTRIBUTE_TEXT_MAX or has_controls(text):
            text = None
    if text is None:
        raise _refuse(definition)
    return text


def is_empty(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def filter_texts(raw: str) -> dict[str, str]:
    """The inbox filter's value as each type would store it ({type: text}), for the types
    that accept it: `attr=seats:12.0` finds "12" of a number and "12.0" of a text."""
    found: dict[str, str] = {}
    for kind in AttributeType:
        probe = AttributeDefinition(key="k", label="k", type=kind, choices=[raw.strip()])
        try:
            found[kind.value] = canonical(probe, raw)
        except AttributeError_:
            continue
    return found


def display(definition: AttributeDefinition, text: str) -> str:
    if definition.type == AttributeType.YES_NO:
        return "Yes" if text == "true" else "No"
    return text


@dataclass(frozen=True)
class Change:
    """One checked write: the definition and its canonical text (None: clear)."""

    definition: AttributeDefinition
    text: str | None


def _write(contact: Contact, change: Change, source: str, user: User | None) -> bool:
    """Store one checked change under the source rule; False when a claim met a value from
    another source (kept). Inside the caller's transaction."""
    current = (AttributeValue.objects.select_for_update()
               .filter(contact=contact, definition=change.definition).first())
    if source == AttributeSource.CLAIM and current is not None \
            and current.source != AttributeSource.CLAIM:
        return False  # an unverified claim never overwrites a verified or chosen value
    if change.text is None:
        if current is not None:
            current.delete()
        return True
    AttributeValue.objects.update_or_create(
        contact=contact, definition=change.definition,
        defaults={"text": change.text, "source": source, "set_by": user,
                  "updated_at": timezone.now()})
    return True


def definition_of(company_id: int, key: object) -> AttributeDefinition:
    found = (AttributeDefinition.objects.filter(company_id=company_id, key=key).first()
             if isinstance(key, str) else None)
    if found is None:
        raise AttributeError_("unknown_attribute", "No such attribute: an admin defines "
                                                   "attributes on the Attributes page.")
    return found


def do_set_attribute(company_id: int, contact: Contact, key: object, raw: object, *,
                     source: str, user: User | None = None) -> bool:
    """THE write of one attribute value (operators in the sidebar, the API later): `raw`
    checked against the company's definition of `key` (AttributeError_ unknown_attribute /
    bad_value, nothing stored), empty input clears. Returns False when the source rule kept
    the old value (a claim over a verified one)."""
    if contact.company_id != company_id:
        raise PermissionDenied("This contact belongs to another company.")
    if source not in AttributeSource.values:
        raise ValueError(source)
    definition = definition_of(company_id, key)
    change = Change(definition, None if is_empty(raw) else canonical(definition, raw))
    with transaction.atomic():
        return _write(contact, change, source, user)


# --- from identify --------------------------------------------------------------------------

@dataclass(frozen=True)
class Identified:
    """identify's attributes, checked: the changes to make and the unknown keys to count."""

    changes: tuple[Change, ...]
    unknown: tuple[str, ...]


def check_identified(company_id: int, attributes: object) -> Identified:
    """identify's `attributes` object checked whole before anything is stored: a value of
    the wrong type refuses it (AttributeError_ bad_value, naming the attribute); unknown
    keys are set apart (counted, never created)."""
    if not isinstance(attributes, dict) or len(attributes) > IDENTIFY_ATTRIBUTES_MAX:
        raise AttributeError_("bad_attributes", "attributes must be an object of at most "
                                                f"{IDENTIFY_ATTRIBUTES_MAX} keys.")
    definitions = {d.key: d for d in AttributeDefinition.objects.filter(
        company_id=company_id, key__in=[k for k in attributes if isinstance(k, str)])}
    changes, unknown = [], []
    for key, raw in attributes.items():
        definition = definitions.get(key)
        if definition is None:
            if KEY_RE.fullmatch(key):  # anything else is not even a key anyone could define
                unknown.append(key)
            continue
        changes.append(Change(definition, None if is_empty(raw) else canonical(definition,
                                                                               raw)))
    return Identified(tuple(changes), tuple(unknown))


def apply_identified(contact: Contact, identified: Identified, *, verified: bool) -> None:
    """Store identify's checked attributes (inside do_identify's transaction) and count its
    unknown keys."""
    source = AttributeSource.VERIFIED if verified else AttributeSource.CLAIM
    for change in identified.changes:
        _write(contact, change, source, None)
    if identified.unknown:
        count_unknown(contact.company_id, identified.unknown)


def count_unknown(company_id: int, keys: tuple[str, ...]) -> None:
    now = timezone.now()
    known = set(UnknownAttribute.objects.filter(company_id=company_id, key__in=keys)
                .values_list("key", flat=True))
    UnknownAttribute.objects.filter(company_id=company_id, key__in=known).update(
        count=F("count") + 1, last_seen_at=now)
    room = UNKNOWN_KEYS_MAX - UnknownAttribute.objects.filter(company_id=company_id).count()
    new = [k for k in keys if k not in known][:max(room, 0)]
    UnknownAttribute.objects.bulk_create(
        [UnknownAttribute(company_id=company_id, key=k, count=1, first_seen_at=now,
                          last_seen_at=now) for k in new], ignore_conflicts=True)


# --- definitions ----------------------------------------------------------------------------

def check_definition(company_id: int, key: object, label: object, kind: object,
                     choices: object) -> AttributeDefinition:
    """A new definition checked (AttributeError_ with the field's problem), not saved."""
    key = key.strip() if isinstance(key, str) else ""
    if not KEY_RE.fullmatch(key):
        raise AttributeError_("bad_key", f"A key is 1 to {ATTRIBUTE_KEY_MAX} characters: "
                                         "lower-case letters, digits and _, starting with a "
                                         "letter (plan, signed_up).")
    label = " ".join(label.split()) if isinstance(label, str) else ""
    if not label or len(label) > ATTRIBUTE_LABEL_MAX or has_controls(label):
        raise AttributeError_("bad_label", f"A label is 1 to {ATTRIBUTE_LABEL_MAX} "
                                           "printable characters.")
    if kind not in AttributeType.values:
        raise AttributeError_("bad_type", "The type is one of: "
                                          + ", ".join(AttributeType.values) + ".")
    values: list[str] = []
    if kind == AttributeType.LIST:
        lines = choices.splitlines() if isinstance(choices, str) else []
        values = list(dict.fromkeys(" ".join(v.split()) for v in lines if v.strip()))
        if not values or len(values) > CHOICES_MAX or any(
                len(v) > CHOICE_MAX or has_controls(v) for v in values):
            raise AttributeError_("bad_choices", f"A list attribute has 1 to {CHOICES_MAX} "
                                                 f"values, one a line, each at most "
                                                 f"{CHOICE_MAX} characters.")
    defined = AttributeDefinition.objects.filter(company_id=company_id)
    if defined.filter(key=key).exists():
        raise AttributeError_("key_taken", f"There is already an attribute {key}.")
    if defined.count() >= DEFINITIONS_MAX:
        raise AttributeError_("too_many", f"At most {DEFINITIONS_MAX} attributes.")
    return AttributeDefinition(company_id=company_id, key=key, label=label, type=kind,
                               choices=values)


def _check_admin(membership: Membership) -> None:
    if not membership.is_admin:
        raise PermissionDenied("Only owners and admins can change attributes.")


def do_define_attribute(membership: Membership, key: object, label: object, kind: object,
                        choices: object = "") -> AttributeDefinition:
    _check_admin(membership)
    definition = check_definition(membership.company_id, key, label, kind, choices)
    with transaction.atomic():
        definition.save()
        # A key that was unknown is known now: its counter has done its job.
        UnknownAttribute.objects.filter(company_id=membership.company_id,
                                        key=definition.key).delete()
    return definition


def do_delete_attribute(membership: Membership, definition: AttributeDefinition) -> None:
    """The definition goes with every contact's value of it."""
    _check_admin(membership)
    if definition.company_id != membership.company_id:
        raise PermissionDenied("This attribute belongs to another company.")
    definition.delete()


def attribute_rows(company_id: int, contact_id: int | None) -> list[dict[str, Any]]:
    """Every definition of the company with this contact's value (None when unset)."""
    values = ({v.definition_id: v for v in AttributeValue.objects.filter(
        contact_id=contact_id, contact__company_id=company_id)} if contact_id else {})
    rows = []
    for d in AttributeDefinition.objects.filter(company_id=company_id):
        value = values.get(d.pk)
        rows.append({"key": d.key, "label": d.label, "type": d.type, "choices": d.choices,
                     "value": value.text if value else None,
                     "display": display(d, value.text) if value else None,
                     "source": value.source if value else None})
    return rows


def contacts_with_attribute(key: str, raw: str) -> QuerySet[Contact]:
    """The inbox filter (attr=key:value): contacts whose value of `key` equals `raw` as
    that attribute's type reads it (equality for every type: 12 finds 12.0, yes finds
    true). The caller's conversations are the company's already."""
    match = Q(pk__in=[])
    for kind, text in filter_texts(raw).items():
        match |= Q(definition__type=kind, text=text)
    return Contact.objects.filter(pk__in=AttributeValue.objects.filter(
        match, definition__key=key).values("contact_id"))
