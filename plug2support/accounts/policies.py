"""Decisions about a company that billing makes and the layers below billing need.

Billing sits above conversations, attachments, presence and accounts (docs/architecture.md,
"Layers"), yet they must ask it whether a company may communicate (H6), whether it may invite
one more user (H1/A2), and tell it when a company is made (H1: its subscription starts then).
Rather than import billing from below, they ask here, and billing's AppConfig.ready() fills
this registry at start-up (`register`). A process where nothing registered refuses loudly
instead of letting a blocked company through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .models import Company


@dataclass(frozen=True)
class Policies:
    # The block on a company's communication: None, or why ("traffic", "payment").
    communication_block: Callable[[int], str | None]
    # Raises with a message for people when the company may not invite one more user.
    check_invite_allowed: Callable[[Company], None]
    # A new company (inside the transaction that made it).
    company_created: Callable[[int], None]


_registered: Policies | None = None


def register(policies: Policies) -> None:
    global _registered
    _registered = policies


def _policies() -> Policies:
    if _registered is None:
        raise RuntimeError("No company policies registered: is plug2support.billing in "
                           "INSTALLED_APPS?")
    return _registered


def communication_block(company_id: int) -> str | None:
    """None when the company's widgets and operators may send; else the reason (H6)."""
    return _policies().communication_block(company_id)


class InviteRefused(Exception):
    """The plan allows no more invited users; the message is for people."""


def check_invite_allowed(company: Company) -> None:
    _policies().check_invite_allowed(company)


def company_created(company_id: int) -> None:
    _policies().company_created(company_id)
