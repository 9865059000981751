"""Load: 100 concurrent clients against the runtime pool (max 20) through PgBouncer, then the same load on a
naive connect-per-request baseline through the same PgBouncer; throughput, latency, errors and queue waits."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType

import psycopg

from bench.harness import BenchOptions, require
from bench.report import BenchResult, Goal, Measure
from bench.services import local_stage, patched_environ, sentry_ingest, stage_notes
from bench.stats import Summary, elapsed_ms
from runtime import constants

CLIENTS = 100
POOL_MAX_SIZE = 20
QUERY = "SELECT 1"
NAIVE_CONNECT_TIMEOUT_SECONDS = 5
MAX_REQUESTS_PER_CLIENT = 5_000  # a second bound besides the duration
JOIN_GRACE_SECONDS = 30.0  # past the duration, for requests in flight (each is bounded by its own timeout)
STATS_SAMPLE_SECONDS = 0.05


@dataclass
class LoadRun:
    """What one load phase measured (latencies and pool waits in milliseconds)."""

    elapsed_s: float
    latencies_ms: list[float] = field(default_factory=list)
    waits_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    stuck_clients: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


# A request returns how long it waited for a pooled connection (None: not pooled).
Request = Callable[[], float | None]


def drive(request: Request, *, clients: int, duration_s: float) -> LoadRun:
    """`clients` threads call `request` in a loop until `duration_s` passes (or each made its cap)."""
    start_line = threading.Barrier(clients + 1)
    per_client: list[LoadRun] = [LoadRun(0.0) for _ in range(clients)]
    deadline = 0.0

    def client(mine: LoadRun) -> None:
        start_line.wait()
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= deadline:
                return
            started = time.perf_counter_ns()
            try:
                waited = request()
            except Exception as exc:
                mine.errors[type(exc).__name__] += 1
                continue
            mine.latencies_ms.append(elapsed_ms(started))
            if waited is not None:
                mine.waits_ms.append(waited)

    threads = [threading.Thread(target=client, args=(run,), daemon=True) for run in per_client]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline = began + duration_s
    start_line.wait()
    for thread in threads:
        thread.join(max(0.0, deadline + JOIN_GRACE_SECONDS - time.monotonic()))
    total = LoadRun(time.monotonic() - began)
    for thread, run in zip(threads, per_client, strict=True):
        total.latencies_ms += run.latencies_ms
        total.waits_ms += run.waits_ms
        total.errors += run.errors
        total.stuck_clients += thread.is_alive()
    return total


def run(options: BenchOptions) -> BenchResult:
    db = require("runtime.db")
    settings_module = require("runtime.settings")
    duration_s = options.seconds(10.0, 2.0)
    result = BenchResult("load")
    result.notes += stage_notes()
    result.notes.append(
        f"{CLIENTS} client threads for {duration_s:g} s each phase, request = `{QUERY}`; "
        f"runtime pool max {POOL_MAX_SIZE} vs a new connection per request"
    )
    with local_stage() as stage, sentry_ingest() as dsn:
        env = stage.development_env() | {
            constants.DB_POOL_MAX_SIZE: str(POOL_MAX_SIZE),
            constants.SENTRY_DSN: dsn,  # the same configuration as health (and no "DSN missing" warning)
        }
        with patched_environ(env):
            settings_module.reset_settings()
            try:
                pool = db.get_pool()
                pool.wait(timeout=30)  # opened and filled to min size before the clock starts
                before = pool.counters()
                with _sampling_waiting(pool.counters) as max_waiting:
                    pooled = drive(lambda: _pooled_request(db), clients=CLIENTS, duration_s=duration_s)
                after = pool.counters()
            finally:
                db.close_pool()
                settings_module.reset_settings()
        pooled_url = stage.pooled_url()
        naive = drive(lambda: _naive_request(pooled_url), clients=CLIENTS, duration_s=duration_s)

    queued = after.get("requests_queued", 0) - before.get("requests_queued", 0)
    queued_wait_ms = after.get("requests_wait_ms", 0) - before.get("requests_wait_ms", 0)
    requests = after.get("requests_num", 0) - before.get("requests_num", 0)
    opened = after.get("connections_num", 0) - before.get("connections_num", 0)
    result.notes.append(
        f"pool stats: {requests} requests, {queued} queued (mean wait "
        f"{queued_wait_ms / queued if queued else 0:.1f} ms), max requests_waiting seen {max_waiting()}, "
        f"connections opened {opened}"
    )
    result.notes += [_describe("pooled", pooled), _describe("naive", naive)]
    result.measures += _compare(pooled, naive)
    return result


def _pooled_request(db: ModuleType) -> float:
    """A unit of work through the runtime's own API (`runtime.db.connection()`, the process pool)."""
    asked = time.perf_counter_ns()
    with db.connection() as conn:
        waited = elapsed_ms(asked)
        conn.execute(QUERY)
    return waited


def _naive_request(url: str) -> None:
    with psycopg.connect(url, connect_timeout=NAIVE_CONNECT_TIMEOUT_SECONDS, prepare_threshold=None) as conn:
        conn.execute(QUERY)


@contextmanager
def _sampling_waiting(get_stats: Callable[[], dict[str, int]]) -> Iterator[Callable[[], int]]:
    """Sample the pool's `requests_waiting` in the background; yields a reader of the maximum seen."""
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(STATS_SAMPLE_SECONDS):
            peak = max(peak, get_stats().get("requests_waiting", 0))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak
    finally:
        stop.set()
        sampler.join(5)


def _describe(name: str, run: LoadRun) -> str:
    errors = ", ".join(f"{kind}x{count}" for kind, count in run.errors.most_common()) or "none"
    text = f"{name}: {len(run.latencies_ms)} ok in {run.elapsed_s:.1f} s, errors: {errors}"
    if run.stuck_clients:
        text += f", {run.stuck_clients} clients still blocked after the grace period"
    return text


def _compare(pooled: LoadRun, naive: LoadRun) -> list[Measure]:
    measures = [
        Measure("throughput pooled", pooled.throughput, "req/s", naive.throughput, "naive"),
        Measure("errors pooled", pooled.error_count + pooled.stuck_clients, goal=Goal(0)),
        Measure("errors naive", naive.error_count + naive.stuck_clients),
    ]
    if pooled.latencies_ms and naive.latencies_ms:
        ours, theirs = Summary.of(pooled.latencies_ms), Summary.of(naive.latencies_ms)
        measures += [
            Measure("latency p50 pooled", ours.p50, "ms", theirs.p50, "naive"),
            Measure("latency p99 pooled", ours.p99, "ms", theirs.p99, "naive"),
        ]
    if pooled.waits_ms:
        waits = Summary.of(pooled.waits_ms)
        measures += [Measure("pool wait p50", waits.p50, "ms"), Measure("pool wait p99", waits.p99, "ms")]
    return measures
