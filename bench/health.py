"""Request overhead against the physical floor: one `SELECT 1` on one dedicated psycopg connection through
the same PgBouncer (no pool, no runtime). Side by side, interleaved so machine noise lands on every series
alike:

* `GET /api/health` through `runtime.handler.handle` (an in-process function-URL event: decorator, Sentry,
  readiness, JSON);
* a function written as the README shows (`@lambda_handler`, one query through `get_pool().connection()`);
* where the overhead goes: the bounded lease alone (`with get_pool().connection()` + the query), the
  health endpoint without the decorator (`runtime.handler.route`), and the decorator alone (a decorated
  handler making no call: its cost as a share of the floor).

Round trips per request are counted from PgBouncer's `SHOW STATS` (`total_query_count`) over the run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from bench.harness import BenchOptions, require
from bench.report import BenchResult, Goal, Measure
from bench.services import local_stage, patched_environ, sentry_ingest, stage_notes
from bench.stats import Summary, time_calls_ms
from runtime import constants

HEALTH_PATH = "/api/health"
APP_PATH = "/api/items"
P50_RATIO_GOAL = Goal(1.3, on_ratio=True)
P99_RATIO_GOAL = Goal(1.5, on_ratio=True)
PRODUCTION_SAMPLE_RATES = {constants.SENTRY_SAMPLE_RATE: "1.0", constants.SENTRY_TRACES_SAMPLE_RATE: "0.1"}
QUERY = "SELECT 1"


def run(options: BenchOptions) -> BenchResult:
    handler = require("runtime.handler")
    db = require("runtime.db")
    settings = require("runtime.settings")
    decorator = require("runtime.decorator")
    import psycopg

    rounds, warmup = options.scaled(3_000, 300), options.scaled(300, 30)
    result = BenchResult("health")
    result.notes += stage_notes()

    with local_stage() as stage, sentry_ingest() as dsn:
        env = stage.development_env() | PRODUCTION_SAMPLE_RATES | {constants.SENTRY_DSN: dsn}
        floor_conn = psycopg.connect(stage.pooled_url(), autocommit=True, prepare_threshold=None)
        admin = psycopg.connect(stage.pgbouncer.admin_url(), autocommit=True, prepare_threshold=None)
        with patched_environ(env), floor_conn, admin:
            settings.reset_settings()
            decorator.reset_process()  # Sentry and settings are set up once per process: afresh for this env
            try:
                # Each decorated call writes its JSON access line to stdout (runtime.logs), as on Lambda: the
                # write is measured, the ~40,000 lines go to /dev/null instead of the report.
                with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                    series, queries = _interleaved(handler, db, floor_conn, admin, rounds, warmup)
            finally:
                decorator.reset_process()
                db.close_pool()
                settings.reset_settings()

    health, app, floor, lease, routed, bare = (Summary.of(samples) for samples in series)
    result.notes += [
        f"{rounds} interleaved rounds after {warmup} warm-up; Sentry on (local sink, production rates); "
        "the decorator's JSON access lines written to /dev/null",
        "floor = SELECT 1 on one dedicated psycopg connection through the same PgBouncer (autocommit, no "
        "pool); README function = @lambda_handler + get_pool().connection() + one query; lease = "
        "get_pool().connection() + the query, undecorated; undecorated health = runtime.handler.route; "
        "decorator alone = @lambda_handler around a handler that makes no call (no round trip: its ratio is "
        "the decorator's cost as a share of the floor)",
        "round trips per request (PgBouncer SHOW STATS total_query_count over the timed rounds): "
        + ", ".join(f"{name} {count:.2f}" for name, count in queries.items()),
    ]
    result.measures += [
        Measure("health p50", health.p50, "ms", floor.p50, "floor", goal=P50_RATIO_GOAL),
        Measure("health p99", health.p99, "ms", floor.p99, "floor", goal=P99_RATIO_GOAL),
        Measure("README function p50", app.p50, "ms", floor.p50, "floor", goal=P50_RATIO_GOAL),
        Measure("README function p99", app.p99, "ms", floor.p99, "floor", goal=P99_RATIO_GOAL),
        Measure("bounded lease + query p50", lease.p50, "ms", floor.p50, "floor"),
        Measure("undecorated health p50", routed.p50, "ms", floor.p50, "floor"),
        Measure("decorator alone p50", bare.p50, "ms", floor.p50, "floor"),
    ]
    return result


def _interleaved(
    handler: ModuleType,
    db: ModuleType,
    floor_conn: Any,
    admin: Any,
    rounds: int,
    warmup: int,
) -> tuple[list[list[float]], dict[str, float]]:
    """Milliseconds per call of each series, and round trips per call of each (PgBouncer's count)."""
    from runtime.decorator import lambda_handler
    from runtime.serve import LocalContext, build_event

    health_event = build_event("GET", HEALTH_PATH, [("user-agent", "ballast-bench")], b"", "127.0.0.1")
    app_event = build_event("GET", APP_PATH, [("user-agent", "ballast-bench")], b"", "127.0.0.1")
    context = LocalContext()
    pool = db.get_pool()

    @lambda_handler
    def readme_function(event: Any, context: Any) -> Any:
        with db.get_pool().connection() as conn:
            rows = conn.execute(QUERY).fetchall()
        return {"items": [row[0] for row in rows]}

    @lambda_handler
    def no_call(event: Any, context: Any) -> Any:
        return {"items": [1]}

    def answered(response: dict[str, Any]) -> None:
        if response["statusCode"] != 200:
            raise RuntimeError(f"answered {response['statusCode']}: {response['body']}")

    def health() -> None:
        answered(handler.handle(health_event, context))

    def app() -> None:
        answered(readme_function(app_event, context))

    def floor() -> None:
        floor_conn.execute(QUERY).fetchone()

    def lease() -> None:
        with pool.connection() as conn:
            conn.execute(QUERY).fetchone()

    def routed() -> None:
        answered(handler.route(health_event, context))

    def decorator_alone() -> None:
        answered(no_call(app_event, context))

    calls: dict[str, Callable[[], None]] = {
        "health": health,
        "README function": app,
        "floor": floor,
        "lease": lease,
        "undecorated health": routed,
        "decorator alone": decorator_alone,
    }
    for call in calls.values():
        time_calls_ms(call, warmup)
    series: list[list[float]] = [[] for _ in calls]
    counted = max(rounds // 10, 10)
    trips: dict[str, float] = {}
    for name, call in calls.items():  # round trips, each series alone (PgBouncer counts per database)
        before = _query_count(admin)
        for _ in range(counted):
            call()
        trips[name] = (_query_count(admin) - before) / counted
    for _ in range(rounds):
        for call, samples in zip(calls.values(), series, strict=True):
            samples += time_calls_ms(call, 1)
    return series, trips


def _query_count(admin: Any) -> int:
    """PgBouncer's running count of queries sent to the benchmark's database (its admin console)."""
    cursor = admin.execute("SHOW STATS")
    names = [column.name for column in cursor.description]
    for row in cursor.fetchall():
        stats = dict(zip(names, row, strict=True))
        if stats["database"] != "pgbouncer":
            return int(stats["total_query_count"])
    raise RuntimeError("PgBouncer reported no statistics for the benchmark's database")
