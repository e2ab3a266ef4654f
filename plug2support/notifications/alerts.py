"""Alert preferences (C1, issue 18 point 8): for each kind of event a member may hear a
sound, see a desktop notification, get an e-mail and a Web Push (M11, push/sending.py).
The console's team.js honours sound and desktop (the page carries the member's choices);
e-mail is sent to those not online (conversations/alert_mail.py), who `wants_email` tells.
Defaults apply to whatever a member
has not set, so a new kind of event is one entry of KINDS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from plug2support.accounts.models import Membership

from .models import AlertPreferences

CHANNELS = ("sound", "desktop", "email", "push")
# kind → (label, its default per channel). Every kind can be e-mailed (conversations/
# alert_mail.py); the offline-message e-mail still goes to every member, as it always has.
KINDS: dict[str, tuple[str, dict[str, bool]]] = {
    "new_conversation": ("A new conversation",
                         {"sound": True, "desktop": True, "email": False, "push": True}),
    "assigned": ("A conversation assigned to me",
                 {"sound": True, "desktop": True, "email": False,
                  "push": True}),
    "mention": ("I am mentioned in a note",
                {"sound": True, "desktop": True, "email": True, "push": True}),
    "transfer_request": ("A teammate asks to take over",
                         {"sound": True, "desktop": True, "email": False, "push": True}),
    "customer_reply": ("A customer replies in a conversation I serve",
                       {"sound": False, "desktop": True, "email": False, "push": True}),
    # K2: a visitor rated 1 or 2 a conversation I resolved (satisfaction/rating.py).
    "low_rating": ("A visitor gives a low rating to a conversation I served",
                   {"sound": False, "desktop": True, "email": True, "push": False}),
}


def preferences_of(membership_id: int) -> dict[str, dict[str, bool]]:
    """Every kind's channels for this member: their choices over the defaults."""
    row = AlertPreferences.objects.filter(membership_id=membership_id).first()
    chosen: Mapping[str, Any] = row.choices if row else {}
    return {kind: {channel: _chosen(chosen, kind, channel) for channel in CHANNELS}
            for kind in KINDS}


def _chosen(choices: Mapping[str, Any], kind: str, channel: str) -> bool:
    """A member's stored choice for a kind and channel, else the kind's default."""
    return bool(choices.get(kind, {}).get(channel, KINDS[kind][1][channel]))


def wants_email(company_id: int, user_ids: list[int], kind: str) -> list[int]:
    """Of these members, those who want `kind` by e-mail (two statements for any number)."""
    return _wanting(company_id, user_ids, kind, "email")


def wants_push(company_id: int, user_ids: list[int], kind: str) -> list[int]:
    """Of these members, those who want `kind` by Web Push (push/sending.py)."""
    return _wanting(company_id, user_ids, kind, "push")


def _wanting(company_id: int, user_ids: list[int], kind: str, channel: str) -> list[int]:
    if kind not in KINDS:
        return []
    if not user_ids:
        return []
    memberships = dict(Membership.objects.filter(company_id=company_id, user_id__in=user_ids)
                       .values_list("user_id", "pk"))
    chosen = dict(AlertPreferences.objects.filter(membership_id__in=memberships.values())
                  .values_list("membership_id", "choices"))
    return [u for u in user_ids if u in memberships
            and _chosen(chosen.get(memberships[u], {}), kind, channel)]


def do_set_alert_preferences(membership: Membership,
                             checked: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    """Store the member's choice for every kind and channel: `checked` holds the names
    `<kind>.<channel>` that are on (a form's checkboxes), anything else is off."""
    choices = {kind: {channel: f"{kind}.{channel}" in checked for channel in CHANNELS}
               for kind in KINDS}
    with transaction.atomic():
        AlertPreferences.objects.update_or_create(membership=membership,
                                                  defaults={"choices": choices})
    return preferences_of(membership.pk)
