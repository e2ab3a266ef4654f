"""H5's six alerts, each sent once per company, cause and period, to the seed's recipients
by the seed's means: e-mail to the owner (traffic at 90 % and 100 %), e-mail and a console
notification to the owner (the paid period ends in 3 days, or today), a console
notification to the owner and every invited user (communication blocked)."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from plug2support.accounts.models import Membership, Role
from plug2support.lib.mail import queue_templated_email
from plug2support.notifications.actions import do_notify

from .access import traffic_limit
from .models import Alert, AlertCause, Subscription
from .moments import blocking_update, company_zone, in_zone
from .periods import period_at

BILLING_URL = "/billing/"

TITLES = {
    AlertCause.TRAFFIC_90: "Your traffic is above 90 % of this period's limit",
    AlertCause.TRAFFIC_100: "Your traffic has reached this period's limit",
    AlertCause.TRAFFIC_BLOCKED: "Chat is blocked: the traffic limit was exceeded",
    AlertCause.PAYMENT_3_DAYS: "Your paid period ends in 3 days",
    AlertCause.PAYMENT_TODAY: "Your paid period ends today",
    AlertCause.PAYMENT_BLOCKED: "Chat is blocked: the paid period has expired",
}
EMAIL_OWNER = {AlertCause.TRAFFIC_90, AlertCause.TRAFFIC_100, AlertCause.PAYMENT_3_DAYS,
               AlertCause.PAYMENT_TODAY}
NOTIFY_OWNER = {AlertCause.PAYMENT_3_DAYS, AlertCause.PAYMENT_TODAY}
NOTIFY_EVERYONE = {AlertCause.TRAFFIC_BLOCKED, AlertCause.PAYMENT_BLOCKED}


def percent_text(part: int, whole: int) -> str:
    """`part` as a percentage of `whole`, truncated (never rounded up) to one decimal, and to
    more when one would read as a whole number it is not: 181 of 200 is "90.5", 199 of 200
    "99.5" (never "100"), 1801 of 2000 "90.05" (never "90"). So the figure never contradicts
    the alert's condition ("above 90 %", "below 100 %"). Every alert text uses it."""
    if whole <= 0 or part <= 0:
        return "0"
    places = 1
    while True:
        shown, rest = divmod(100 * part * 10 ** places, whole)
        # Exact, or the last decimal shown is not 0 (so the figure is not a whole number).
        if rest == 0 or shown % 10:
            break
        places += 1
    whole_part, decimals = divmod(shown, 10 ** places)
    digits = str(decimals).rjust(places, "0").rstrip("0")
    return f"{whole_part}.{digits}" if digits else str(whole_part)


def alert_context(subscription: Subscription, cause: str) -> dict[str, object]:
    """What an alert says: the figures, and when a block would actually come (the daily
    update 24 hours or more after its cause), in the company's time zone."""
    limit = traffic_limit(subscription, subscription.period_start)
    zone = company_zone(subscription.company_id)
    period_end = period_at(subscription.anchor, subscription.period_start)[1]
    context: dict[str, object] = {
        "company": subscription.company.name, "cause": cause,
        "title": TITLES[AlertCause(cause)], "traffic": subscription.traffic, "limit": limit,
        "percent": percent_text(subscription.traffic, limit),
        "plan": subscription.plan.name, "url": BILLING_URL,
        "period_end": in_zone(period_end, zone), "zone": zone.key,
    }
    if cause in (AlertCause.PAYMENT_3_DAYS, AlertCause.PAYMENT_TODAY) \
            and subscription.paid_until is not None:
        context["paid_until"] = in_zone(subscription.paid_until, zone)
        context["block_at"] = in_zone(blocking_update(subscription.paid_until), zone)
    if cause == AlertCause.TRAFFIC_100 and subscription.over_limit_since is not None:
        block = blocking_update(subscription.over_limit_since)
        if block < period_end:
            context["block_at"] = in_zone(block, zone)
        else:
            context["period_ends_first"] = True
    return context


def send_once(subscription: Subscription, cause: str, period: datetime) -> bool:
    """Send the alert unless it was sent for this period already; True when sent now."""
    try:
        with transaction.atomic():
            Alert.objects.create(company_id=subscription.company_id, cause=cause,
                                 period=period)
            members = Membership.objects.filter(company_id=subscription.company_id)
            owners = list(members.filter(role=Role.OWNER).select_related("user"))
            context = alert_context(subscription, cause)
            title = str(context["title"])
            if cause in EMAIL_OWNER:
                for owner in owners:
                    queue_templated_email([owner.user.email], "billing_alert", context)
            recipients = (members.values_list("user_id", flat=True)
                          if cause in NOTIFY_EVERYONE
                          else [owner.user_id for owner in owners]
                          if cause in NOTIFY_OWNER else [])
            if recipients:
                do_notify(company_id=subscription.company_id, user_ids=list(recipients),
                          kind="billing", title=title, body=_body(cause, context),
                          url=BILLING_URL)
    except IntegrityError:
        return False  # sent already, by an earlier run or another worker
    return True


def _body(cause: str, context: dict[str, object]) -> str:
    if cause in (AlertCause.TRAFFIC_BLOCKED, AlertCause.PAYMENT_BLOCKED):
        return ("Visitors see that the chat is unavailable and operators cannot send. "
                "Everything stays readable. It lifts as soon as the cause is gone.")
    if "block_at" in context:
        return (f"Paid until {context['paid_until']}. Unless the invoice is paid by then, chat "
                f"is blocked at the daily update of {context['block_at']}.")
    return f"{context['plan']} plan; see the billing page."
