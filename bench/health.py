"""Health overhead: `GET /api/health` through `runtime.handler.handle` (an in-process function-URL event,
decorator and Sentry included) against the bare floor, one `SELECT 1` on the same pool through the same
PgBouncer; interleaved so machine noise lands on every series alike."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from bench.harness import BenchOptions, require
from bench.report import BenchResult, Goal, Measure
from bench.services import local_stage, patched_environ, sentry_ingest, stage_notes
from bench.stats import Summary, time_calls_ms
from runtime import constants

HEALTH_PATH = "/api/health"
P50_RATIO_GOAL = Goal(1.3, on_ratio=True)
BOUNDED_TIMEOUT_SECONDS = 2.0
PRODUCTION_SAMPLE_RATES = {constants.SENTRY_SAMPLE_RATE: "1.0", constants.SENTRY_TRACES_SAMPLE_RATE: "0.1"}


def run(options: BenchOptions) -> BenchResult:
    handler = require("runtime.handler")
    db = require("runtime.db")
    settings = require("runtime.settings")
    decorator = require("runtime.decorator")
    rounds, warmup = options.scaled(2_000, 200), options.scaled(100, 20)
    result = BenchResult("health")
    result.notes += stage_notes()

    with local_stage() as stage, sentry_ingest() as dsn:
        env = stage.development_env() | PRODUCTION_SAMPLE_RATES | {constants.SENTRY_DSN: dsn}
        with patched_environ(env):
            settings.reset_settings()
            decorator.reset_process()  # Sentry and settings are set up once per process: afresh for this env
            try:
                series = _interleaved(handler, db, rounds, warmup)
            finally:
                decorator.reset_process()
                db.close_pool()
                settings.reset_settings()

    health, floor, bounded, routed = (Summary.of(samples) for samples in series)
    result.notes += [
        f"{rounds} interleaved rounds after {warmup} warm-up; Sentry on (local sink, production rates)",
        "floor = pool.connection() + SELECT 1 (autocommit); where the overhead goes: bounded = the floor "
        "through runtime.db.run_bounded (the check's deadline), undecorated = runtime.handler.route "
        "(readiness + JSON, no decorator)",
    ]
    result.measures += [
        Measure("health p50", health.p50, "ms", floor.p50, "floor", goal=P50_RATIO_GOAL),
        Measure("health p99", health.p99, "ms", floor.p99, "floor"),
        Measure("bounded SELECT 1 p50", bounded.p50, "ms", floor.p50, "floor"),
        Measure("undecorated health p50", routed.p50, "ms", floor.p50, "floor"),
    ]
    return result


def _interleaved(handler: ModuleType, db: ModuleType, rounds: int, warmup: int) -> list[list[float]]:
    """Milliseconds per call of: the health endpoint, the floor, the floor with the check's deadline, and
    the endpoint without the decorator."""
    from runtime.serve import LocalContext, build_event

    event = build_event("GET", HEALTH_PATH, [("user-agent", "ballast-bench")], b"", "127.0.0.1")
    context = LocalContext()
    pool = db.get_pool()

    def answered(response: dict[str, Any]) -> None:
        if response["statusCode"] != 200:
            raise RuntimeError(f"{HEALTH_PATH} answered {response['statusCode']}: {response['body']}")

    def health() -> None:
        answered(handler.handle(event, context))

    def routed() -> None:
        answered(handler.route(event, context))

    def floor() -> None:
        with pool.connection() as conn:
            _select_one(conn)

    def bounded() -> None:
        db.run_bounded(_select_one, timeout=BOUNDED_TIMEOUT_SECONDS, pool=pool)

    calls: list[Callable[[], None]] = [health, floor, bounded, routed]
    for call in calls:
        time_calls_ms(call, warmup)
    series: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, samples in zip(calls, series, strict=True):
            samples += time_calls_ms(call, 1)
    return series


def _select_one(conn: Any) -> None:
    # What the health check sends: one autocommit round trip, no BEGIN/COMMIT.
    conn.autocommit = True
    try:
        conn.execute("SELECT 1").fetchone()
    finally:
        conn.autocommit = False
