"""Health overhead: `GET /api/health` through `runtime.handler.handle` (an in-process function-URL event)
against the bare floor, one `SELECT 1` on the same pool through the same PgBouncer, interleaved."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import BenchOptions, require
from bench.report import BenchResult, Goal, Measure
from bench.services import local_stage, patched_environ, stage_notes
from bench.stats import Summary, elapsed_ms
from runtime import constants

HEALTH_PATH = "/api/health"
P50_RATIO_GOAL = Goal(1.3, on_ratio=True)


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

            for _ in range(warmup):
                health()
                floor()
            health_ms, floor_ms = [], []
            for _ in range(rounds):  # interleaved: machine noise lands on both series alike
                started = time.perf_counter_ns()
                health()
                health_ms.append(elapsed_ms(started))
                started = time.perf_counter_ns()
                floor()
                floor_ms.append(elapsed_ms(started))
        finally:
            db.close_pool()
            settings_module.reset_settings()

    ours, bare = Summary.of(health_ms), Summary.of(floor_ms)
    result.notes.append(
        f"{rounds} interleaved rounds after {warmup} warm-up; handler = {handler.__name__}.handle "
        f"(decorated: {hasattr(handler.handle, '__wrapped__')}); floor = pool.connection() + SELECT 1 (autocommit)"
    )
    result.measures += [
        Measure("health p50", ours.p50, "ms", bare.p50, "floor", goal=P50_RATIO_GOAL),
        Measure("health p99", ours.p99, "ms", bare.p99, "floor"),
    ]
    return result


def _select_one(conn: Any) -> None:
    # What the health check sends: one autocommit round trip, no BEGIN/COMMIT.
    conn.autocommit = True
    try:
        conn.execute("SELECT 1").fetchone()
    finally:
        conn.autocommit = False

