"""The only code that changes accounts: check_* validates, do_* writes."""

from __future__ import annotations

from django.contrib.auth import logout
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from plug2support.lib.mail import queue_templated_email
from plug2support.realtime.hub import publish_after_commit
from plug2support.realtime.topics import session_topic

from . import policies
from .models import Company, Invitation, Membership, Role, User


class AccountError(Exception):
    """A refused account change; the message is shown to the user as is."""


def do_sign_up(*, email: str, name: str, password: str, company_name: str = "") -> User:
    """A1: a new user, a new company, and the user as its owner."""
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, name=name)
        company = Company.objects.create(name=company_name or f"{name}'s company")
        Membership.objects.create(user=user, company=company, role=Role.OWNER)
        policies.company_created(company.pk)  # H1: on Free, its periods anchored now
    return user


def check_invite(company: Company, inviter: Membership, email: str, role: str) -> None:
    if not inviter.is_admin:
        raise AccountError("Only owners and admins can invite users.")
    if role == Role.OWNER and inviter.role != Role.OWNER:
        raise AccountError("Only an owner can invite another owner.")
    if Membership.objects.filter(company=company, user__email__iexact=email).exists():
        raise AccountError(f"{email} is already a member of {company.name}.")
    try:
        policies.check_invite_allowed(company)
    except policies.InviteRefused as error:
        raise AccountError(str(error)) from None


def do_invite(*, company: Company, inviter: Membership, email: str, role: str) -> Invitation:
    """A2: an invitation e-mail with a link to join the company with a role."""
    email = email.strip().lower()
    check_invite(company, inviter, email, role)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            company=company, email=email, role=role, invited_by=inviter.user
        )
        queue_templated_email(
            [email], "invitation", {"invitation": invitation, "inviter": inviter.user}
        )
    return invitation


def do_accept_invitation(invitation: Invitation, user: User) -> Membership:
    """The invited person (new or existing user) joins the company. A4: several companies."""
    if not invitation.is_open:
        raise AccountError("This invitation has expired or was already used.")
    with transaction.atomic():
        updated = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now()
        )
        if not updated:
            raise AccountError("This invitation was already used.")
        try:
            with transaction.atomic():
                return Membership.objects.create(
                    user=user, company=invitation.company, role=invitation.role
                )
        except IntegrityError:
            return Membership.objects.get(user=user, company=invitation.company)


def do_log_out(request: HttpRequest) -> None:
    """Log out, and close the console sockets that were opened with this session."""
    session_key = request.session.session_key
    logout(request)
    if session_key:
        publish_after_commit(session_topic(session_key), {"type": "session_ended"})
