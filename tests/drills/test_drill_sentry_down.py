"""Drill: Sentry's ingest is down (connection refused) or black-holed (accepts, never answers) while the
function answers errors (each one an event to send) and health checks. Every response may be late by at
most the flush bound, never stalled, measured against the same requests with a Sentry that answers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime import constants, decorator, observability
from runtime.handler import handle
from tests.drills.conftest import DrillReport, RuntimeConfigurer
from tests.drills.traffic import health_event
from tests.fixtures.sentry_sink import SentrySink, SinkMode

FLUSH_BOUND_SECONDS = 1.0
SLACK_SECONDS = 0.5  # scheduling on a shared 2-core machine
REQUESTS = 4


@decorator.lambda_handler
def failing_function(event: Any, context: Any) -> Any:
    raise RuntimeError("drill: an unhandled error, reported to Sentry")


def timed(function: Callable[[Any, Any], Any], count: int) -> tuple[list[float], set[int]]:
    seconds, statuses = [], set()
    for _ in range(count):
        started = time.monotonic()
        response = function(health_event(), None)
        seconds.append(time.monotonic() - started)
        statuses.add(int(response["statusCode"]))
    return seconds, statuses


@pytest.fixture
def sentry_process() -> Iterator[None]:
    """Sentry set up afresh for each sink (the runtime sets it up once per process)."""
    decorator.reset_process()
    yield
    decorator.reset_process()


@pytest.mark.drill
@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", [SinkMode.DOWN, SinkMode.BLACK_HOLE], ids=lambda mode: mode.value)
@pytest.mark.usefixtures("clean_sentry", "sentry_process")
def test_sentry_unreachable_adds_at_most_the_flush_bound(
    mode: SinkMode,
    configure_runtime: RuntimeConfigurer,
    sentry_sink_factory: Callable[..., SentrySink],
    drill_report: DrillReport,
) -> None:
    measured: dict[SinkMode, dict[str, list[float]]] = {}
    for sink_mode in (SinkMode.NORMAL, mode):
        sink = sentry_sink_factory(sink_mode)
        decorator.reset_process()
        configure_runtime(
            **{
                constants.SENTRY_DSN: sink.dsn,
                constants.SENTRY_FLUSH_TIMEOUT_SECONDS: str(FLUSH_BOUND_SECONDS),
                constants.SENTRY_TRACES_SAMPLE_RATE: "0",
            }
        )
        errors, error_statuses = timed(failing_function, REQUESTS)
        healths, health_statuses = timed(handle, REQUESTS)
        assert observability.sentry_enabled(), "Sentry is off: the drill would prove nothing"
        assert error_statuses == {500}
        assert health_statuses == {200}
        measured[sink_mode] = {"error": errors, "health": healths}
        if sink_mode is SinkMode.NORMAL:
            assert len(sink.wait_for_events(REQUESTS)) == REQUESTS, "the baseline sink got no events"
        elif mode is SinkMode.BLACK_HOLE:
            assert sink.connections_held > 0, "the SDK never reached the black hole: the drill proved nothing"

    bound = FLUSH_BOUND_SECONDS + SLACK_SECONDS
    for kind in ("error", "health"):
        baseline, faulty = measured[SinkMode.NORMAL][kind], measured[mode][kind]
        added = max(faulty) - statistics.median(baseline)
        drill_report(f"{kind} response, Sentry answering (slowest)", max(baseline), "s")
        drill_report(f"{kind} response, Sentry {mode.value} (slowest)", max(faulty), "s", bound)
        drill_report(f"added latency per {kind} response (worst)", added, "s", bound)
        assert max(faulty) <= bound, f"a {kind} response waited past the flush bound"
        assert added <= bound
