"""The product under uvicorn for the end-to-end scenario: bench/serve.py (the production
options of plug2support/ops/server.py) plus two bench-only switches.
Argument: JSON {"port", "ws_ping", "profile", "burst"}.

- The visitor message rate limit (30 per 60 s per visitor, `VISITOR_MESSAGES_PER_WINDOW` in
  conversations/actions/messages.py, a module constant with no setting) is raised: the scenario
  offers up to several messages per second per conversation, which a real visitor never
  sends. The limit's cache hit still runs on every message (it is part of the path).
- `profile` (a file path, optional): cProfile of the event loop's thread and of every other
  thread (the sockets' database threads do the storing), written as pstats files
  `<path>.<thread name>` when the server stops. Timed by each thread's CPU clock
  (`time.thread_time`): what a thread spends waiting (for PostgreSQL, for the GIL, for
  work) does not show, so the figures add up to the server's CPU.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any


def main() -> None:
    args = json.loads(sys.argv[1])
    profiles: list[tuple[str, Any]] = []
    if args.get("profile"):
        import cProfile
        import signal
        import time

        def start_thread_profile(*_: object) -> None:
            sys.setprofile(None)
            profile = cProfile.Profile(time.thread_time)
            profiles.append((threading.current_thread().name, profile))
            profile.enable()

        threading.setprofile(start_thread_profile)  # type: ignore[arg-type]
        main_profile = cProfile.Profile(time.thread_time)
        profiles.append(("main", main_profile))
        main_profile.enable()
        # uvicorn re-raises the SIGTERM it handled once it has shut down: a no-op handler
        # lets this process go on to write the profiles instead of dying of it.
        signal.signal(signal.SIGTERM, lambda *_: None)

    import django

    django.setup()
    from bench.serve import run
    from plug2support.conversations.actions import messages

    messages.VISITOR_MESSAGES_PER_WINDOW = 10**9  # type: ignore[misc]
    if args.get("burst"):
        # bench/burst.py: a thousand visitors start a conversation at once, all from the load
        # generator's one address; real ones come from as many addresses. The spam filter's
        # per-address rule (10 an hour) would suspend all but ten: raised, still counted.
        from plug2support.conversations import spam

        spam.MAX_NEW_CONVERSATIONS_PER_IP_PER_HOUR = 10**9  # type: ignore[misc]
    run(args)
    if args.get("profile"):
        import pstats

        for name, profile in profiles:
            try:
                pstats.Stats(profile).dump_stats(f"{args['profile']}.{name}")
            except (TypeError, ValueError):  # a thread that never ran Python code
                continue


if __name__ == "__main__":
    main()
