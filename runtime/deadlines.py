"""Deadlines: the invocation's (from the Lambda context) and one watchdog thread that acts on them.

``@lambda_handler`` sets the invocation's end (``set_invocation_end``) from the context's
``get_remaining_time_in_millis()``; the database's deadline is that end less the Sentry flush bound and
``ANSWER_MARGIN_SECONDS`` (so the 503 and its event still leave in time), and the timeout warning fires at the
end less the flush bound (so the warning still leaves in time). One daemon thread, started on first use,
serves every deadline of the process: it severs database connections still in use at theirs and reports
invocations about to hit their Lambda timeout.
"""

from __future__ import annotations

import contextvars
import threading
import time
from contextlib import suppress
from typing import Any, Protocol

from runtime import constants

_invocation_end: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "ballast_invocation_end", default=None
)
_margin = constants.DEFAULT_SENTRY_FLUSH_TIMEOUT_SECONDS + constants.ANSWER_MARGIN_SECONDS


def invocation_end_of(context: Any, now: float) -> float | None:
    """When Lambda will stop this invocation (``time.monotonic()``), or None when ``context`` cannot say."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    try:
        return now + float(remaining()) / 1000.0
    except (TypeError, ValueError):
        return None


def set_invocation_end(end: float | None) -> contextvars.Token[float | None]:
    """Bound this invocation's database calls by ``end`` (less the margin); reset with the returned token."""
    return _invocation_end.set(end)


def reset_invocation_end(token: contextvars.Token[float | None]) -> None:
    _invocation_end.reset(token)


def set_flush_bound(seconds: float) -> None:
    """The Sentry flush bound the database deadline leaves room for (set once Sentry is configured)."""
    global _margin
    _margin = seconds + constants.ANSWER_MARGIN_SECONDS


def database_deadline(timeout: float | None, now: float) -> float:
    """The deadline of a database call started at ``now``: ``timeout`` seconds, the invocation's deadline,
    whichever is earlier; with neither, ``DEFAULT_DATABASE_DEADLINE_SECONDS``."""
    end = _invocation_end.get()
    invocation = None if end is None else end - _margin
    if timeout is not None:
        own = now + timeout
        return own if invocation is None or own < invocation else invocation
    return invocation if invocation is not None else now + constants.DEFAULT_DATABASE_DEADLINE_SECONDS


# With nothing armed the watchdog still wakes this often: an arm whose deadline lies further out (a Lambda's
# timeout warning and database deadline: seconds) then needs no wake-up call.
IDLE_WAKE_SECONDS = 1.0


class Expiring(Protocol):
    """Something with a deadline the watchdog acts on: a database lease, an invocation's timeout warning."""

    @property
    def deadline(self) -> float: ...

    def expire(self) -> None: ...


class _Watchdog:
    """One daemon thread that calls ``expire()`` on whatever is still armed at its deadline.

    Arming and disarming are a dict insert/delete under one lock; the thread sleeps towards the earliest
    deadline it knows of, and with nothing armed for ``IDLE_WAKE_SECONDS``, and is woken (a thread switch)
    only when a new deadline is earlier than that. ``expire()`` runs under the lock, so
    once ``disarm`` has returned the watchdog can no longer act on that object; it must be quick."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # arm/disarm take the lock itself: one call less each
        self._armed: dict[int, Expiring] = {}
        self._wake_at: float | None = None  # the deadline the thread sleeps towards; None: idle
        self._thread: threading.Thread | None = None

    def arm(self, item: Expiring) -> None:
        with self._lock:
            self._armed[id(item)] = item
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="ballast-watchdog", daemon=True)
                self._thread.start()
            elif self._wake_at is None or item.deadline < self._wake_at:
                self._cond.notify()

    def disarm(self, item: Expiring) -> None:
        with self._lock:
            self._armed.pop(id(item), None)

    def _serve(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                wake_at = None
                for key, item in list(self._armed.items()):
                    if item.deadline <= now:
                        del self._armed[key]
                        with suppress(Exception):  # an expire must never stop the watchdog
                            item.expire()
                    elif wake_at is None or item.deadline < wake_at:
                        wake_at = item.deadline
                if wake_at is None:
                    # Not "until notified": an invocation without database calls arms and disarms its timeout
                    # warning before this thread runs, so each would then notify and switch threads.
                    wake_at = now + IDLE_WAKE_SECONDS
                self._wake_at = wake_at
                self._cond.wait(wake_at - now)


_watchdog = _Watchdog()
watch = _watchdog.arm
unwatch = _watchdog.disarm
