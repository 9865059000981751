"""Drill: every pool connection is busy. Waiters queue, then get a clear `PoolExhausted` after the pool
timeout; health answers 503 `pool_exhausted` within its own bound; nothing crashes, and once the busy work
ends the same pool serves again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from runtime import constants, db
from runtime.decorator import lambda_handler
from runtime.handler import handle
from tests.drills.conftest import HEALTH_CHECK_TIMEOUT_SECONDS, DrillReport, RuntimeConfigurer
from tests.drills.traffic import call, health_event

POOL_MAX_SIZE = 2
POOL_TIMEOUT_SECONDS = 1.5
HOLD_SECONDS = 4.0
WAITERS = 6
APP_REQUESTS = 3
SLACK_SECONDS = 1.0  # thread start and scheduling on a shared 2-core machine


@lambda_handler
def query_function(event: Any, context: Any) -> Any:
    """An application function: one query through the process pool."""
    with db.connection() as conn:
        row = conn.execute("SELECT 1").fetchone()
    return {"value": row[0] if row else None}


def in_threads(count: int, target: Callable[[], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.drill
@pytest.mark.timeout(60)
def test_pool_exhausted_queues_then_answers_503(
    configure_runtime: RuntimeConfigurer, drill_report: DrillReport
) -> None:
    configure_runtime(
        **{
            constants.DB_POOL_MAX_SIZE: str(POOL_MAX_SIZE),
            constants.DB_POOL_TIMEOUT_SECONDS: str(POOL_TIMEOUT_SECONDS),
        }
    )
    assert call(handle)[0] == 200

    def hold() -> None:
        with db.connection() as conn:
            conn.execute("SELECT pg_sleep(%s)", (HOLD_SECONDS,))

    holders = in_threads(POOL_MAX_SIZE, hold)
    assert wait_until(lambda: db.pool_stats().active == POOL_MAX_SIZE, timeout=5), "the pool never filled"

    lock = threading.Lock()
    waited: list[float] = []
    failures: list[BaseException] = []

    def wait_for_connection() -> None:
        started = time.monotonic()
        try:
            with db.connection():
                pass
        except BaseException as error:  # judged below: only a PoolExhausted is acceptable
            with lock:
                failures.append(error)
                waited.append(time.monotonic() - started)

    app_answers: list[tuple[int, dict[str, Any], float]] = []

    def app_request() -> None:
        started = time.monotonic()
        response = query_function(health_event("/api/items"), None)
        with lock:
            app_answers.append(
                (response["statusCode"], json.loads(response["body"]), time.monotonic() - started)
            )

    waiters = in_threads(WAITERS, wait_for_connection) + in_threads(APP_REQUESTS, app_request)
    peak_waiting = 0
    deadline = time.monotonic() + POOL_TIMEOUT_SECONDS / 2
    while time.monotonic() < deadline:
        peak_waiting = max(peak_waiting, db.pool_stats().waiting)
        time.sleep(0.01)
    status, body, health_seconds = call(handle)
    for thread in waiters:
        thread.join(POOL_TIMEOUT_SECONDS + SLACK_SECONDS + 5)

    drill_report("peak requests waiting for a connection", peak_waiting, "requests")
    drill_report(
        "health answer with the pool exhausted",
        health_seconds,
        "s",
        HEALTH_CHECK_TIMEOUT_SECONDS + SLACK_SECONDS,
    )
    assert peak_waiting >= WAITERS, "waiters did not queue"
    assert (status, body["status"], body["checks"]["database"]["status"]) == (
        503,
        "unhealthy",
        "pool_exhausted",
    )
    assert health_seconds <= HEALTH_CHECK_TIMEOUT_SECONDS + SLACK_SECONDS

    assert len(failures) == WAITERS, f"{WAITERS - len(failures)} waiters got a connection or never returned"
    assert all(type(error) is db.PoolExhausted for error in failures), {type(e).__name__ for e in failures}
    message = str(failures[0])
    assert f"no database connection free within {POOL_TIMEOUT_SECONDS:.1f} s" in message
    drill_report("slowest waiter until PoolExhausted", max(waited), "s", POOL_TIMEOUT_SECONDS + SLACK_SECONDS)
    assert min(waited) >= POOL_TIMEOUT_SECONDS - 0.1, "a waiter failed before the pool timeout"
    assert max(waited) <= POOL_TIMEOUT_SECONDS + SLACK_SECONDS

    # Through the decorator the same exhaustion is a clean 503 with an error ID, never a crash or a detail.
    assert len(app_answers) == APP_REQUESTS
    for status, body, seconds in app_answers:
        assert status == 503
        assert set(body) == {"error", "errorId"}
        assert body["errorId"].startswith("ERR-")
        assert seconds <= POOL_TIMEOUT_SECONDS + SLACK_SECONDS
    drill_report(
        "slowest application 503 (decorated)",
        max(seconds for _, _, seconds in app_answers),
        "s",
        POOL_TIMEOUT_SECONDS + SLACK_SECONDS,
    )

    for thread in holders:
        thread.join(HOLD_SECONDS + 5)
    assert not any(thread.is_alive() for thread in holders + waiters)
    stats = db.pool_stats()
    assert (stats.active, stats.waiting) == (0, 0)
    assert call(handle)[0] == 200
