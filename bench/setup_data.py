"""Prepare a benchmark database: migrate, one company with a widget, and visitors whose
tokens are known (`bench-<n>`), so thousands of widget sockets can say hello without the
new-visitor rate limit. Prints the widget key."""

from __future__ import annotations

import json
import sys


def main() -> None:
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    import django

    django.setup()
    from django.core.management import call_command

    from plug2support.accounts.models import Company
    from plug2support.widgets.models import Visitor, Widget, hash_token

    call_command("migrate", interactive=False, verbosity=0)
    company, _ = Company.objects.get_or_create(name="Bench Company")
    widget, _ = Widget.objects.get_or_create(company=company, name="Bench site")
    wanted = int(args.get("visitors", 0))
    have = Visitor.objects.filter(widget=widget).count()
    Visitor.objects.bulk_create(
        [Visitor(widget=widget, token_hash=hash_token(f"bench-{i}")) for i in range(have, wanted)],
        batch_size=2000, ignore_conflicts=True)
    print(json.dumps({"widget": widget.key}))


if __name__ == "__main__":
    main()
