"""The database side of the inbound mail benchmark (bench/mail_ingest.py), run with the
product's environment (bench.common.product_env, DATABASE_URL). Argument: JSON {"do": ...}.

- `setup`: migrate; one company "Bench Mail" with a widget (its inbox) and its default
  support address (`mail.support.default_address`, as the settings page makes it); one
  operator (membership online) with a Django session made server side (what a login
  stores), so the load generator's operator socket sends `Cookie: sessionid=<key>`.
  Prints {"address", "session", "cookie", "company"}.
- `wait` {"n", "finished_before", "since", "timeout"}: until `n` more messages than
  `finished_before` (what `count` said before the messages were sent) have been processed
  by the worker's drain (mail/queue.py), polling every 0.2 s; then prints, for the mail
  received since `since` (epoch seconds), the InboundMail statuses and reasons, the first
  and the last `processed_at`. The times are the database's own timestamps (the worker's
  clock, which on one machine is the load generator's `time.time()` too).
- `timeline` {"tag"}: for each message of bench/mail_load.py's phase `tag` (its number, read
  from the Message-ID), when the gateway stored it and when the worker had processed it
  (epoch seconds): {"<number>": [received, processed]}.
- `count`: prints {"finished": n} (messages processed so far).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from typing import Any


def setup() -> dict[str, Any]:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from plug2support.accounts.current import SESSION_KEY as COMPANY_SESSION_KEY
    from plug2support.accounts.models import Company, Membership, Role, Status, User
    from plug2support.mail.support import default_address
    from plug2support.widgets.models import Widget

    call_command("migrate", interactive=False, verbosity=0)
    company, _ = Company.objects.get_or_create(name="Bench Mail")
    Widget.objects.get_or_create(company=company, name="Bench Mail site")
    address = default_address(company)
    user, created = User.objects.get_or_create(email="operator@bench-mail.example",
                                               defaults={"name": "Bench Operator"})
    if created:
        user.set_unusable_password()
        user.save()
    Membership.objects.get_or_create(user=user, company=company,
                                     defaults={"role": Role.OWNER, "status": Status.ONLINE})
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[COMPANY_SESSION_KEY] = company.pk
    store.create()
    return {"address": address.address, "session": store.session_key,
            "cookie": settings.SESSION_COOKIE_NAME, "company": company.pk}


def finished() -> int:
    from plug2support.mail.models import InboundMail

    return InboundMail.objects.filter(processed_at__isnull=False).count()


def stamp(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value else None


def wait(args: dict[str, Any]) -> dict[str, Any]:
    from django.db import close_old_connections
    from django.db.models import Count, Max, Min

    from plug2support.mail.models import InboundMail, InboundStatus

    wanted = int(args["finished_before"]) + int(args["n"])
    deadline = time.monotonic() + float(args.get("timeout", 300))
    done = finished()
    while done < wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        close_old_connections()
        done = finished()
    since_time = dt.datetime.fromtimestamp(float(args.get("since", 0)), tz=dt.UTC)
    mail = InboundMail.objects.filter(received_at__gte=since_time)
    span = mail.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    failed = mail.filter(status=InboundStatus.FAILED).values_list("reason", flat=True).first()
    reasons = (mail.values_list("reason").annotate(n=Count("id")).order_by("-n")
               .values_list("reason", "n")[:5])
    return {"finished": done - int(args["finished_before"]), "timed_out": done < wanted,
            # of what was received since `since`:
            "statuses": dict(mail.values_list("status").annotate(n=Count("id"))
                             .values_list("status", "n")),
            "reasons": dict(reasons),
            "first_processed": stamp(span["first"]), "last_processed": stamp(span["last"]),
            "failure": (failed or "").strip().splitlines()[-1:] or None}


def timeline(tag: str) -> dict[str, list[float | None]]:
    from plug2support.mail.models import InboundMail

    number = re.compile(rf"^mb\.{re.escape(tag)}\.(\d+)\.")
    return {str(int(found.group(1))): [received.timestamp(), stamp(processed)]
            for message_id, received, processed in
            InboundMail.objects.filter(message_id__startswith=f"mb.{tag}.")
            .values_list("message_id", "received_at", "processed_at")
            if (found := number.match(message_id))}


def main() -> None:
    args = json.loads(sys.argv[1])
    import django

    django.setup()
    if args["do"] == "setup":
        out = setup()
    elif args["do"] == "wait":
        out = wait(args)
    elif args["do"] == "timeline":
        out = timeline(args["tag"])
    else:
        out = {"finished": finished()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
