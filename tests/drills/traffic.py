"""Concurrent, bounded traffic for the fault drills: client threads calling the function-URL handler, each
answer recorded with when it started and how long it took, so a drill can judge every request against the
moment a fault began or ended."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.serve import LocalContext, build_event

HEALTH_PATH = "/api/health"
JOIN_SECONDS = 30.0  # a client still running this long after stop() is a hung request

Handler = Callable[[dict[str, Any], Any], Mapping[str, Any]]


def health_event(path: str = HEALTH_PATH) -> dict[str, Any]:
    return build_event("GET", path, [("user-agent", "ballast-drill")], b"", "127.0.0.1")


def call(handler: Handler, path: str = HEALTH_PATH) -> tuple[int, dict[str, Any], float]:
    """One request: status, decoded JSON body, seconds taken."""
    started = time.monotonic()
    response = handler(health_event(path), LocalContext())
    seconds = time.monotonic() - started
    return int(response["statusCode"]), json.loads(response["body"] or "{}"), seconds


@dataclass(frozen=True)
class Outcome:
    """One request: `status` None means the handler raised (`error` names the exception)."""

    started: float
    seconds: float
    status: int | None
    error: str = ""

    @property
    def finished(self) -> float:
        return self.started + self.seconds


@dataclass
class Traffic:
    """`clients` threads sending `GET path` back to back (with `pause` between) until `stop()`."""

    handler: Handler
    clients: int = 8
    pause: float = 0.02
    path: str = HEALTH_PATH
    outcomes: list[Outcome] = field(default_factory=list)
    hung: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Traffic:
        self._threads = [
            threading.Thread(target=self._client, name=f"drill-client-{n}", daemon=True)
            for n in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self._stop.set()
        deadline = time.monotonic() + JOIN_SECONDS
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.hung = sum(thread.is_alive() for thread in self._threads)
        return self.outcomes

    def _client(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = self.handler(health_event(self.path), LocalContext())
                outcome = Outcome(started, time.monotonic() - started, int(response["statusCode"]))
            except Exception as exc:
                outcome = Outcome(started, time.monotonic() - started, None, type(exc).__name__)
            with self._lock:
                self.outcomes.append(outcome)
            self._stop.wait(self.pause)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def wait_for(
        self, predicate: Callable[[Outcome], bool], *, after: float, timeout: float
    ) -> Outcome | None:
        """The first outcome started after `after` satisfying `predicate`, waiting up to `timeout` for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((o for o in self.snapshot() if o.started >= after and predicate(o)), None)
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(0.02)


def started_between(outcomes: list[Outcome], start: float, end: float) -> list[Outcome]:
    return [o for o in outcomes if start <= o.started < end]
