"""Health overhead: `GET /api/health` through `runtime.handler.handle` (an in-process function-URL event)
against the bare floor, one `SELECT 1` on the same pool through the same PgBouncer, interleaved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.harness import BenchOptions, require
from bench.report import BenchResult, Goal, Measure
from bench.services import local_stage, patched_environ, stage_notes
from bench.stats import Summary, time_calls_ms

HEALTH_PATH = "/api/health"
P50_RATIO_GOAL = Goal(1.3, on_ratio=True)
BOUNDED_TIMEOUT_SECONDS = 2.0


def run(options: BenchOptions) -> BenchResult:
    handler = require("runtime.handler")
    db = require("runtime.db")
    settings_module = require("runtime.settings")
    serve = require("runtime.serve")
    rounds, warmup = options.scaled(2_000, 200), options.scaled(100, 20)
    event = serve.build_event("GET", HEALTH_PATH, [("user-agent", "ballast-bench")], b"", "127.0.0.1")
    context = serve.LocalContext()
    result = BenchResult("health")
    result.notes += stage_notes()

    with local_stage() as stage, patched_environ(stage.development_env()):
        settings_module.reset_settings()
        try:
            pool = db.get_pool()

            def health() -> None:
                response = handler.handle(event, context)
                if response["statusCode"] != 200:
                    raise RuntimeError(f"{HEALTH_PATH} answered {response['statusCode']}: {response['body']}")

            def floor() -> None:
                with pool.connection() as conn:
                    _select_one(conn)

            def bounded() -> None:  # the floor plus the health check's deadline (a worker thread per call)
                db.run_bounded(_select_one, timeout=BOUNDED_TIMEOUT_SECONDS, pool=pool)

            series: dict[Callable[[], None], list[float]] = {health: [], floor: [], bounded: []}
            for call in series:
                time_calls_ms(call, warmup)
            for _ in range(rounds):  # interleaved: machine noise lands on every series alike
                for call, samples in series.items():
                    samples += time_calls_ms(call, 1)
        finally:
            db.close_pool()
            settings_module.reset_settings()

    ours, bare, with_deadline = (Summary.of(samples) for samples in series.values())
    result.notes.append(
        f"{rounds} interleaved rounds after {warmup} warm-up; handler = {handler.__name__}.handle "
        f"(decorated: {hasattr(handler.handle, '__wrapped__')}); "
        "floor = pool.connection() + SELECT 1 (autocommit); "
        "bounded = the floor through runtime.db.run_bounded (the health check's deadline)"
    )
    result.measures += [
        Measure("health p50", ours.p50, "ms", bare.p50, "floor", goal=P50_RATIO_GOAL),
        Measure("health p99", ours.p99, "ms", bare.p99, "floor"),
        Measure("bounded SELECT 1 p50", with_deadline.p50, "ms", bare.p50, "floor"),
    ]
    return result


def _select_one(conn: Any) -> None:
    # What the health check sends: one autocommit round trip, no BEGIN/COMMIT.
    conn.autocommit = True
    try:
        conn.execute("SELECT 1").fetchone()
    finally:
        conn.autocommit = False
