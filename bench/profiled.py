"""A manage.py command under cProfile, every thread timed by its own CPU clock
(`time.thread_time`: what a thread spends waiting — for the database, the GIL, the next
message — does not show, so the figures add up to the process's CPU). When the command ends
(SIGTERM: the worker exits, the gateway returns) the profiles are written as pstats files
`<out>.<thread name>`, the threads that ran Python code since they started.

    python -m bench.profiled OUT manage.py worker
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import sys
import threading
import time
from typing import Any


def main() -> None:
    out, script, *argv = sys.argv[1:]
    profiles: list[tuple[str, cProfile.Profile]] = []

    def start_thread_profile(*_: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        profiles.append((threading.current_thread().name, profile))
        profile.enable()

    threading.setprofile(start_thread_profile)  # type: ignore[arg-type]
    main_profile = cProfile.Profile(time.thread_time)
    profiles.append(("main", main_profile))
    sys.argv = [script, *argv]
    main_profile.enable()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        pass
    finally:
        main_profile.disable()
        for name, profile in profiles:
            try:
                pstats.Stats(profile).dump_stats(f"{out}.{name}")
            except (TypeError, ValueError):  # a thread that never ran Python code
                continue


if __name__ == "__main__":
    main()
