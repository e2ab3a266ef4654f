"""The two-factor pages (N5): the code step of the login and the set-up page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from . import twofactor as tf
from .throttle import Refusal


class LoginView(auth_views.LoginView):
    """Django's login; a user with two-factor is only remembered as pending here."""

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        user = form.get_user()
        if tf.has_two_factor(user):
            tf.start_pending(self.request, user, self.get_success_url())
            return redirect("login_code")
        return super().form_valid(form)


def _refused(request: HttpRequest, template: str, context: dict, until) -> HttpResponse:  # type: ignore[no-untyped-def,type-arg]
    refusal = Refusal(until)
    response = render(request, template, {**context, "throttled": refusal.message(
        "Too many wrong codes.")}, status=429)
    response["Retry-After"] = str(refusal.seconds)
    return response


def login_code(request: HttpRequest) -> HttpResponse:
    found = tf.pending_user(request)
    if found is None:
        messages.info(request, "Log in again: the code step expired.")
        return redirect("login")
    user, pending = found
    error = ""
    if request.method == "POST":
        until = tf.throttled_until(user)
        if until is not None:
            return _refused(request, "registration/login_code.html", {}, until)
        device = tf.check_code(user, request.POST.get("code"))
        if device is None:
            error = "That code is not right. Type the 6 digits your app shows, or a recovery code."
        else:
            request.session.pop(tf.PENDING_KEY, None)
            login(request, user, backend=pending.get("backend") or None)
            otp_login(request, device)
            target = str(pending.get("next") or "")
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
                target = "/"
            return redirect(target)
    return render(request, "registration/login_code.html", {"error": error},
                  status=400 if error else 200)


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    user = request.user
    fresh = request.session.get(tf.FRESH_CODES_KEY)
    if fresh:
        return render(request, "accounts/two_factor_codes.html", {"codes": fresh})
    if tf.has_two_factor(user):
        return render(request, "accounts/two_factor.html", {
            "on": True, "remaining": tf.remaining_recovery_codes(user),
            "required": tf.is_required(user)})
    device = tf.pending_device(user)
    error = ""
    if request.method == "POST":
        # The device being set up is throttled too after a wrong code (django-otp): a right
        # code typed within that wait is refused as "wait", not as "not right".
        until = tf.throttled_until(user) or tf.locked_until(device)
        code = tf.normalise_code(request.POST.get("code"))
        if until is not None:
            return _refused(request, "accounts/two_factor.html",
                            {"qr": tf.qr_svg(device), "secret": tf.secret_text(device)}, until)
        if code.isdigit() and device.verify_token(code):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            request.session[tf.FRESH_CODES_KEY] = tf.new_recovery_codes(user)
            otp_login(request, device)
            return redirect("two_factor")
        error = "That code is not right. Type the 6 digits your app shows now."
    return render(request, "accounts/two_factor.html", {
        "qr": tf.qr_svg(device), "secret": tf.secret_text(device), "error": error,
        "required": tf.is_required(user)}, status=400 if error else 200)


@login_required
def recovery_codes_txt(request: HttpRequest) -> HttpResponse:
    codes = request.session.get(tf.FRESH_CODES_KEY) or []
    response = HttpResponse("Plug2Support recovery codes (each works once)\n\n"
                            + "\n".join(codes) + "\n", content_type="text/plain")
    response["Content-Disposition"] = 'attachment; filename="plug2support-recovery-codes.txt"'
    return response


@login_required
@require_POST
def two_factor_action(request: HttpRequest, action: str) -> HttpResponse:
    user = request.user
    if action == "done":
        request.session.pop(tf.FRESH_CODES_KEY, None)
        # A member walked through set-up because their company requires it goes on to work;
        # one who chose it from the profile sees it on.
        return redirect("inbox" if tf.is_required(user) else "two_factor")
    until = tf.throttled_until(user)
    if until is not None:
        messages.error(request, Refusal(until).message("Too many wrong codes."))
        return redirect("two_factor")
    if tf.check_code(user, request.POST.get("code")) is None:
        messages.error(request, "That code is not right.")
        return redirect("two_factor")
    if action == "regenerate":
        request.session[tf.FRESH_CODES_KEY] = tf.new_recovery_codes(user)
    elif action == "off":
        if tf.is_required(user):
            messages.error(request, "Your company requires two-factor authentication.")
        elif not user.check_password(request.POST.get("password", "")):
            messages.error(request, "That password is not right.")
        else:
            tf.turn_off(user)
            messages.success(request, "Two-factor authentication is off.")
    return redirect("two_factor")
