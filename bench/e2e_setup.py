"""Prepare a database for the end-to-end scenario (bench/e2e.py).

Run with the product's environment (bench.common.product_env: DJANGO_SETTINGS_MODULE,
P2S_VAR_DIR, DATABASE_URL). Argument: JSON {"visitors": N, "operators": K}. Idempotent: a
second run adds what is missing.

- migrate; one company "Bench E2E" with one widget (no business hours: always open). Its
  `allowed_origins` are left empty (any site may embed it): the widget *socket* does not
  read them anyway. Both sockets check `Origin` against the request's own host
  (realtime/asgi.py `origin_allowed`), so the load generator sends
  `Origin: http://127.0.0.1:<port>` with the matching `Host`.
- N visitors whose tokens are `bench-e2e-<n>` (only the hash is stored, as in
  setup_data.py), each with a current conversation holding its first message: what
  `do_post_visitor_message` stores for a first message that is neither spam nor routed
  (stage new, low priority, last_seq 1, the preview, waiting since now, one `message`
  event), written in bulk (the action takes ~10-20 ms a conversation on this machine: 20 s
  for 1 000). Creating them here keeps conversation creation out of the measurement, and
  out of the spam filter's "10 new conversations per address per hour" rule (every socket
  of the load generator comes from 127.0.0.1: conversations it created would be suspended
  from the eleventh on, and take another path).
- K operators (memberships, status online) with a Django session each, created server side
  (what a login stores: user id, backend, password hash, the chosen company), so the load
  generator sends `Cookie: sessionid=<key>`.

Prints one JSON line: {"widget", "token_pattern", "visitors", "sessions", "cookie",
"company", "conversations"}.
"""

from __future__ import annotations

import json
import sys

FIRST_MESSAGE = "Hello, is my order shipped?"


def main() -> None:
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from plug2support.accounts.current import SESSION_KEY as COMPANY_SESSION_KEY
    from plug2support.accounts.models import Company, Membership, Role, Status, User
    from plug2support.conversations.models import (
        Conversation,
        Event,
        EventKind,
        Priority,
        Sender,
        Stage,
    )
    from plug2support.widgets.models import Visitor, Widget, hash_token

    call_command("migrate", interactive=False, verbosity=0)
    company, _ = Company.objects.get_or_create(name="Bench E2E")
    widget, _ = Widget.objects.get_or_create(company=company, name="Bench E2E site")

    wanted = int(args.get("visitors", 200))
    Visitor.objects.bulk_create(
        [Visitor(widget=widget, token_hash=hash_token(f"bench-e2e-{i}")) for i in range(wanted)],
        batch_size=2000, ignore_conflicts=True)
    if not args.get("conversations", True):  # bench/burst.py: every message is a first one
        wanted_conversations = 0
    else:
        wanted_conversations = wanted
    with_conversation = set(Conversation.objects.filter(widget=widget)
                            .values_list("visitor_id", flat=True))
    by_hash = {v.token_hash: v for v in Visitor.objects.filter(widget=widget)}
    missing = [by_hash[hash_token(f"bench-e2e-{i}")] for i in range(wanted_conversations)]
    missing = [v for v in missing if v.pk not in with_conversation]
    now = timezone.now()
    with transaction.atomic():
        conversations = Conversation.objects.bulk_create([Conversation(
            company=company, widget=widget, visitor=visitor, stage=Stage.NEW,
            priority=Priority.LOW, last_seq=1, preview=FIRST_MESSAGE, waiting_since=now)
            for visitor in missing], batch_size=1000)
        Event.objects.bulk_create([Event(
            conversation=conversation, seq=1, kind=EventKind.MESSAGE, sender=Sender.VISITOR,
            body=FIRST_MESSAGE, client_id=f"setup-{conversation.visitor_id}")
            for conversation in conversations], batch_size=1000)
    sessions = []
    for k in range(int(args.get("operators", 3))):
        user, created = User.objects.get_or_create(
            email=f"operator{k}@bench.example", defaults={"name": f"Operator {k}"})
        if created:
            user.set_unusable_password()
            user.save()
        Membership.objects.get_or_create(
            user=user, company=company,
            defaults={"role": Role.OWNER if k == 0 else Role.OPERATOR, "status": Status.ONLINE})
        Membership.objects.filter(user=user, company=company).update(status=Status.ONLINE)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store[COMPANY_SESSION_KEY] = company.pk
        store.create()
        sessions.append(store.session_key)

    print(json.dumps({
        "widget": widget.key, "token_pattern": "bench-e2e-{n}", "visitors": wanted,
        "sessions": sessions, "cookie": settings.SESSION_COOKIE_NAME, "company": company.pk,
        "conversations": Conversation.objects.filter(widget=widget).count(),
    }))


if __name__ == "__main__":
    main()
