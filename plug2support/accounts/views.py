from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from plug2support.conversations.actions.core import ConversationError
from plug2support.conversations.actions.members import do_remove_member

from .access import membership_required
from .actions import AccountError, do_accept_invitation, do_invite, do_log_out, do_sign_up
from .current import SESSION_KEY
from .forms import AcceptInvitationForm, InviteForm, QueuedPasswordResetForm, SignUpForm
from .models import Invitation, Membership, Role, User
from .sessions import close_sockets_of_unverified_sessions
from .throttle import check_password_reset, check_sign_up, refused_page


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("inbox")
    return render(request, "home.html")


def sign_up(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and (refusal := check_sign_up(request)):
        form = SignUpForm(initial=request.POST.dict())
        return refused_page(request, "accounts/signup.html", {"form": form}, refusal,
                            "Too many sign-ups from your network.")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = do_sign_up(email=form.cleaned_data["email"], name=form.cleaned_data["name"],
                          password=form.cleaned_data["password"],
                          company_name=form.cleaned_data["company_name"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome! Create a widget and paste its snippet on your site.")
        return redirect("widget_list")
    return render(request, "accounts/signup.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset page; requests are counted per address asked for and per client (N5),
    whether or not the address has an account (the answer must not tell)."""

    form_class = QueuedPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    html_email_template_name = "registration/password_reset_email.html"

    def form_valid(self, form: QueuedPasswordResetForm) -> HttpResponse:
        refusal = check_password_reset(self.request, form.cleaned_data["email"])
        if refusal:
            return refused_page(self.request, str(self.template_name),
                                {"form": QueuedPasswordResetForm(initial=form.cleaned_data)},
                                refusal, "Too many password reset requests.")
        return super().form_valid(form)


@require_POST
def log_out(request: HttpRequest) -> HttpResponse:
    do_log_out(request)
    return redirect("login")


@login_required
def no_company(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/no_company.html")


@login_required
@require_POST
def switch_company(request: HttpRequest, company_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, user=request.user, company_id=company_id)
    request.session[SESSION_KEY] = membership.company_id
    return redirect("inbox")


@membership_required()
def team(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and "require_two_factor" not in request.POST:
        if not membership.is_admin:
            return render(request, "403.html", status=403)
        if form.is_valid():
            try:
                invitation = do_invite(company=membership.company, inviter=membership,
                                       email=form.cleaned_data["email"],
                                       role=form.cleaned_data["role"])
            except AccountError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("team")
    if request.method == "POST" and "require_two_factor" in request.POST:
        return _require_two_factor(request, membership)
    members = list(Membership.objects.filter(company_id=membership.company_id)
                   .select_related("user").order_by("created_at"))
    # N5: who has two-factor on, so an owner who requires it sees who still must set it up.
    with_two_factor = set(TOTPDevice.objects.filter(
        confirmed=True, user_id__in=[m.user_id for m in members]).values_list("user_id",
                                                                               flat=True))
    for member in members:
        member.two_factor = member.user_id in with_two_factor  # type: ignore[attr-defined]
    invitations = Invitation.objects.filter(company_id=membership.company_id,
                                            accepted_at__isnull=True).order_by("-created_at")
    return render(request, "accounts/team.html",
                  {"form": form, "members": members, "invitations": invitations})


def _require_two_factor(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The owner's switch (N5): every member of this company must use two-factor."""
    if membership.role != Role.OWNER:
        return render(request, "403.html", status=403)
    company = membership.company
    company.require_two_factor = request.POST.get("require_two_factor") == "on"
    with transaction.atomic():
        company.save(update_fields=["require_two_factor"])
        if company.require_two_factor:
            close_sockets_of_unverified_sessions(company.pk, DEVICE_ID_SESSION_KEY)
    messages.success(request, "Two-factor authentication is now "
                     + ("required for every member." if company.require_two_factor
                        else "up to each member."))
    return redirect("team")


def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.select_related("company"), token=token)
    if not invitation.is_open:
        return render(request, "accounts/invitation_closed.html", {"invitation": invitation},
                      status=410)
    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        # An existing user joins one more company (A4) after logging in as themselves.
        if not request.user.is_authenticated or request.user.pk != existing.pk:
            messages.info(request, f"Log in as {invitation.email} to join "
                                   f"{invitation.company.name}.")
            return redirect(f"/accounts/login/?next={request.path}")
        if request.method == "POST":
            try:
                do_accept_invitation(invitation, existing)
            except AccountError as error:
                messages.error(request, str(error))
                return redirect("inbox")
            request.session[SESSION_KEY] = invitation.company_id
            return redirect("inbox")
        return render(request, "accounts/accept_existing.html", {"invitation": invitation})
    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        user = User.objects.create_user(email=invitation.email, name=form.cleaned_data["name"],
                                        password=form.cleaned_data["password"])
        try:
            do_accept_invitation(invitation, user)
        except AccountError as error:
            user.delete()
            messages.error(request, str(error))
            return redirect("login")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_KEY] = invitation.company_id
        return redirect("inbox")
    return render(request, "accounts/accept.html", {"form": form, "invitation": invitation})


@membership_required()
@require_POST
def remove_member(request: HttpRequest, membership: Membership, member_id: int) -> HttpResponse:
    """M10: an admin removes a member; their sockets for this company close at once."""
    try:
        removed = do_remove_member(membership, member_id)
    except ConversationError as error:
        if error.code == "not_found":
            raise Http404(error.message) from None
        messages.error(request, error.message)
        return redirect("team")
    messages.success(request, f"{removed.user} was removed from {membership.company.name}.")
    return redirect("team")
