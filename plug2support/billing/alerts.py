"""H5's six alerts, each sent once per company, cause and period, to the seed's recipients
by the seed's means: e-mail to the owner (traffic at 90 % and 100 %), e-mail and a console
notification to the owner (the paid period ends in 3 days, or today), a console
notification to the owner and every invited user (communication blocked)."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from plug2support.accounts.models import Membership, Role
from plug2support.notifications.actions import do_notify
from plug2support.notifications.email import queue_templated_email

from .models import Alert, AlertCause, Subscription

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


def send_once(subscription: Subscription, cause: str, period: datetime) -> bool:
    """Send the alert unless it was sent for this period already; True when sent now."""
    from .access import traffic_limit

    try:
        with transaction.atomic():
            Alert.objects.create(company_id=subscription.company_id, cause=cause,
                                 period=period)
            members = Membership.objects.filter(company_id=subscription.company_id)
            owners = list(members.filter(role=Role.OWNER).select_related("user"))
            title = TITLES[AlertCause(cause)]
            limit = traffic_limit(subscription, subscription.period_start)
            context = {
                "company": subscription.company.name, "cause": cause, "title": title,
                "traffic": subscription.traffic, "limit": limit,
                "percent": round(100 * subscription.traffic / limit) if limit else 0,
                "paid_until": subscription.paid_until, "plan": subscription.plan.name,
                "url": BILLING_URL,
            }
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
    return f"{context['plan']} plan; see the billing page."
