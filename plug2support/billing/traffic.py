"""The traffic counter (H3): unique interlocutors — visitors, or the contact a visitor turned
out to be, so one person on two widgets counts once — who wrote at least one message in the
company's current billing period, on any widget or channel.

One statement counts every company at once (the daily update) or one (the billing page),
and finds, from the messages themselves, the moment the counter first went over the limit:
the first message of the (limit + 1)-th interlocutor of the period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from plug2support.contacts.models import VisitorContact
from plug2support.conversations.models import Conversation, Event, EventKind, Sender

from .models import Plan, Subscription


@dataclass(frozen=True)
class Traffic:
    interlocutors: int
    over_limit_since: datetime | None  # None while the counter is within the limit


# Each interlocutor's first message in its company's period (as the subscription row holds
# it), numbered in time order; then per company the count and the (limit + 1)-th first
# message. A boost counts only in the period it was bought for. Table names are our own.
_SQL = """
WITH firsts AS (
    SELECT c.company_id AS company_id, MIN(e.created_at) AS first_at
    FROM {event} e
    JOIN {conversation} c ON c.id = e.conversation_id
    JOIN {subscription} s ON s.company_id = c.company_id
    LEFT JOIN {visitor_contact} vc ON vc.visitor_id = c.visitor_id
    WHERE e.kind = %s AND e.sender = %s AND e.created_at >= {period}
      AND e.created_at < %s {company_filter}
    GROUP BY c.company_id, COALESCE(vc.contact_id, 0),
             CASE WHEN vc.contact_id IS NULL THEN c.visitor_id ELSE 0 END
), ranked AS (
    SELECT company_id, first_at,
           ROW_NUMBER() OVER (PARTITION BY company_id ORDER BY first_at) AS n
    FROM firsts
)
SELECT r.company_id, COUNT(*),
       MAX(CASE WHEN r.n = p.traffic_limit + 1 + CASE WHEN s.boost_period_start = {period}
                                                      THEN s.boost ELSE 0 END
                THEN r.first_at END)
FROM ranked r
JOIN {subscription} s ON s.company_id = r.company_id
JOIN {plan} p ON p.id = s.plan_id
GROUP BY r.company_id
"""


def _sql(company_filter: str, period: str) -> str:
    return _SQL.format(period=period,
        event=Event._meta.db_table, conversation=Conversation._meta.db_table,
        subscription=Subscription._meta.db_table, plan=Plan._meta.db_table,
        visitor_contact=VisitorContact._meta.db_table, company_filter=company_filter)


def _aware(value: Any) -> datetime | None:
    """A datetime from the driver: PostgreSQL gives one; SQLite gives its text."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def count_traffic(until: datetime) -> dict[int, Traffic]:
    """Every company's traffic from its subscription's period_start to `until` (companies
    with none are absent): the daily update, once it has set each period_start."""
    adapt = connection.ops.adapt_datetimefield_value
    return _run(_sql("", "s.period_start"), [EventKind.MESSAGE, Sender.VISITOR, adapt(until)])


def company_traffic(company_id: int, period_start: datetime, until: datetime) -> Traffic:
    """One company's traffic in the period starting at `period_start`, up to `until`."""
    adapt = connection.ops.adapt_datetimefield_value
    start = adapt(period_start)
    found = _run(_sql("AND s.company_id = %s", "%s"),
                 [EventKind.MESSAGE, Sender.VISITOR, start, adapt(until), company_id, start])
    return found.get(company_id, Traffic(0, None))


def _run(sql: str, params: list[Any]) -> dict[int, Traffic]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: Traffic(row[1], _aware(row[2])) for row in cursor.fetchall()}
