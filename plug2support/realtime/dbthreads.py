"""The sockets' database threads: `db(fn)` runs a socket handler's database work off the
event loop (settings.SOCKET_DB_THREADS threads, or asgiref's one shared thread), and
`close_db_threads` ends them at shutdown with their connections closed.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connections

T = TypeVar("T")

_db_executor: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor | None:
    """The sockets' database threads (settings.SOCKET_DB_THREADS); None: asgiref's one shared
    thread, as Django's own async views use."""
    global _db_executor
    if settings.SOCKET_DB_THREADS <= 1:
        return None
    if _db_executor is None:
        _db_executor = ThreadPoolExecutor(settings.SOCKET_DB_THREADS,
                                          thread_name_prefix="socket-db")
    return _db_executor


def close_db_threads() -> None:
    """At shutdown: every database thread closes its connection (a dropped test database or
    a restarted PostgreSQL must not find them open), then the threads end. Blocking."""
    global _db_executor
    executor, _db_executor = _db_executor, None
    _wrapped.clear()
    if executor is None:
        return
    count = settings.SOCKET_DB_THREADS
    # Each task waits for the others: `count` tasks at once take all `count` threads.
    barrier = threading.Barrier(count)

    def close() -> None:
        connections.close_all()
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10)

    for future in [executor.submit(close) for _ in range(count)]:
        future.result()
    executor.shutdown(wait=True)


_wrapped: dict[tuple[Callable[..., Any], ThreadPoolExecutor | None], Callable[..., Any]] = {}

# Each database thread's own context, kept from one call to the next. Django keeps its cache
# backends per context (`caches`, an asgiref Local that is not thread-critical), and every
# socket task starts from an empty context (sockets._spawn): run in the task's, each call
# built a new backend, and with Redis a new connection pool — a new Redis connection a
# message, never reused (found by the two-process end-to-end benchmark). In the thread's own context
# a thread keeps one backend, as under WSGI. Database connections are thread-local anyway.
# What a call leaves in that context stays for the thread's next calls, as a WSGI worker's
# thread-locals do: switch a language or a time zone with `override`, never `activate`.
_thread_context = threading.local()


def _in_thread_context(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    context = getattr(_thread_context, "context", None)
    if context is None:
        context = _thread_context.context = contextvars.Context()
    return context.run(fn, *args, **kwargs)


def db(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run `fn` on a database thread. Socket handlers never finish a request, so Django
    never recycles a thread's connection: drop it after a database error, and the next call
    opens (or takes from the pool) a sound one. A socket awaits each call before it reads
    its next frame, so its own frames stay in order whichever thread runs them. The wrapper
    is made once per function (asgiref inspects the function each time one is made)."""
    executor = _executor()
    wrapper = _wrapped.get((fn, executor))
    if wrapper is not None:
        return wrapper

    def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return _in_thread_context(fn, *args, **kwargs)
        except (DatabaseError, InterfaceError):
            connections.close_all()
            raise
        finally:
            if executor is not None and executor is not _db_executor:
                # Its threads are being shut down (close_db_threads), and this call came
                # after their own closing: a thread must not end holding a connection,
                # which only the garbage collector would close (a PostgreSQL session left
                # open, holding its pool slot, after the pool itself was closed).
                connections.close_all()

    if executor is None:
        wrapper = sync_to_async(guarded)
    else:
        wrapper = sync_to_async(guarded, thread_sensitive=False, executor=executor)
    _wrapped[(fn, executor)] = wrapper
    return wrapper
