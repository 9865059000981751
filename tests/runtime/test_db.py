"""runtime.db on a real PostgreSQL 15 behind a real PgBouncer in transaction pooling mode."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import errors
from pydantic import SecretStr

from localstage import LocalStage
from runtime import db
from tests.fixtures.services import (
    BoundReport,
    reconnect_pgbouncer_servers,
    settled_pool_stats,
    wait_until_pooler_serves,
)

PREPARED_STATEMENT_ERRORS = (errors.DuplicatePreparedStatement, errors.InvalidSqlStatementName)
CHECK_BOUND_SECONDS = 1.5
TIMER_SLACK_SECONDS = 0.5  # thread start, socket shutdown and scheduling on a shared 2-core machine


def select_one(conn: psycopg.Connection[tuple[object, ...]]) -> object:
    row = conn.execute("SELECT 1").fetchone()
    return row[0] if row else None


@pytest.fixture
def pool(pooled_url: str) -> Iterator[db.Pool]:
    pool = db.create_pool(db.PoolConfig(conninfo=pooled_url, max_size=4, timeout_seconds=2.0))
    yield pool
    pool.close()


@pytest.fixture
def process_pool(pooled_url: str) -> Iterator[db.Pool]:
    """The process-wide pool (what ``db.connection()`` uses), small so it can be exhausted."""
    pool = db.open_pool(db.PoolConfig(conninfo=pooled_url, max_size=2, timeout_seconds=0.5))
    yield pool
    db.close_pool()


def interleave_queries(*conns: psycopg.Connection[tuple[Any, ...]], rounds: int = 20) -> list[object]:
    """The same parametrised query on each connection in turn: psycopg would prepare it on the 6th run."""
    return [conn.execute("SELECT %s::int", (value,)).fetchone() for value in range(rounds) for conn in conns]


def warm(pool: db.Pool) -> None:
    """One idle connection in the pool, as in a warm Lambda instance."""
    assert db.run_bounded(select_one, timeout=5, pool=pool) == 1


# --- transaction pooling safety -------------------------------------------------------------------------


def test_default_prepare_threshold_breaks_behind_transaction_pooler(services: LocalStage) -> None:
    """The hazard is real: psycopg's default prepares after 5 runs, and a second client collides."""
    reconnect_pgbouncer_servers(services)
    first = psycopg.connect(services.pooled_url(), autocommit=True)
    second = psycopg.connect(services.pooled_url(), autocommit=True)
    try:
        with pytest.raises(PREPARED_STATEMENT_ERRORS, match=r"_pg3_\d+"):
            interleave_queries(first, second)
    finally:
        first.close()
        second.close()
        reconnect_pgbouncer_servers(services)  # leave no prepared statement behind on server connections


def test_one_connection_hides_the_hazard(services: LocalStage) -> None:
    """Why the proof needs two clients: alone, a client keeps getting the same server connection."""
    reconnect_pgbouncer_servers(services)
    try:
        with psycopg.connect(services.pooled_url(), autocommit=True) as conn:
            values = [conn.execute("SELECT %s::int", (value,)).fetchone() for value in range(20)]
        assert values == [(value,) for value in range(20)]
    finally:
        reconnect_pgbouncer_servers(services)


def test_pool_connections_never_prepare(pool: db.Pool) -> None:
    """Two pooled connections interleaved exactly like the failing case above: no error."""
    first, second = pool.getconn(), pool.getconn()
    try:
        assert first.prepare_threshold is None
        assert second.prepare_threshold is None
        first.autocommit = second.autocommit = True
        assert interleave_queries(first, second) == [(value,) for value in range(20) for _ in range(2)]
    finally:
        first.autocommit = second.autocommit = False
        pool.putconn(first)
        pool.putconn(second)


def test_concurrent_clients_share_the_pooler_safely(pool: db.Pool) -> None:
    """Four threads, each its own pooled connection, many transactions each through PgBouncer."""
    failures: list[BaseException] = []

    def client(worker: int) -> None:
        try:
            for value in range(30):
                with pool.connection() as conn:
                    row = conn.execute("SELECT %s::int + %s::int", (worker, value)).fetchone()
                    assert row == (worker + value,)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=client, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert pool.get_stats()["requests_num"] >= 120


# --- queueing and exhaustion ------------------------------------------------------------------------------


def test_waiters_queue_then_fail_with_pool_exhausted(
    process_pool: db.Pool, report_bound: BoundReport
) -> None:
    held = [process_pool.getconn(), process_pool.getconn()]
    seen_waiting: list[int] = []
    outcome: list[BaseException] = []
    elapsed: list[float] = []

    def waiter() -> None:
        started = time.monotonic()
        try:
            with db.connection():
                pass
        except db.DatabaseUnavailable as error:
            outcome.append(error)
        finally:
            elapsed.append(time.monotonic() - started)

    thread = threading.Thread(target=waiter)
    try:
        thread.start()
        for _ in range(40):  # while the waiter is queued, the pool reports it
            seen_waiting.append(db.pool_stats().waiting)
            if seen_waiting[-1]:
                break
            time.sleep(0.01)
        thread.join(timeout=5)
    finally:
        for conn in held:
            process_pool.putconn(conn)
    assert 1 in seen_waiting
    assert len(outcome) == 1
    assert isinstance(outcome[0], db.PoolExhausted)
    assert "2 of 2 in use" in str(outcome[0])
    assert 0.5 <= elapsed[0] < 0.5 + TIMER_SLACK_SECONDS
    report_bound("pool exhausted -> PoolExhausted after", elapsed[0], 0.5 + TIMER_SLACK_SECONDS)


def test_a_waiter_is_served_when_a_connection_returns(process_pool: db.Pool) -> None:
    held = [process_pool.getconn(), process_pool.getconn()]
    results: list[object] = []

    def waiter() -> None:
        with db.connection(timeout=5) as conn:
            results.append(select_one(conn))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)
    process_pool.putconn(held.pop())
    thread.join(timeout=5)
    process_pool.putconn(held.pop())
    assert results == [1]


def test_a_warm_pool_runs_bounded_work_on_the_callers_thread(pool: db.Pool) -> None:
    def thread_of(conn: psycopg.Connection[tuple[object, ...]]) -> int:
        select_one(conn)
        return threading.get_ident()

    assert db.run_bounded(thread_of, timeout=5, pool=pool) != threading.get_ident()  # cold: a worker
    assert db.pool_stats(pool).idle >= 1
    assert db.run_bounded(thread_of, timeout=5, pool=pool) == threading.get_ident()  # warm: no handoff


def test_a_closed_pool_is_a_clear_database_unavailable(pooled_url: str) -> None:
    pool = db.create_pool(db.PoolConfig(conninfo=pooled_url, max_size=1))
    warm(pool)
    pool.close()
    with pytest.raises(db.DatabaseUnavailable, match="pool is closed"):
        db.run_bounded(select_one, timeout=1, pool=pool)


def test_slow_work_on_the_warm_path_is_cut_at_the_deadline(pool: db.Pool) -> None:
    warm(pool)
    started = time.monotonic()
    with pytest.raises(db.DatabaseTimeout):
        db.run_bounded(lambda conn: conn.execute("SELECT pg_sleep(10)"), timeout=0.5, pool=pool)
    assert time.monotonic() - started < 0.5 + TIMER_SLACK_SECONDS
    assert settled_pool_stats(pool).active == 0  # the severed connection went back (and was discarded)
    assert db.run_bounded(select_one, timeout=5, pool=pool) == 1


# --- faults -----------------------------------------------------------------------------------------------


@pytest.mark.drill
def test_pgbouncer_down_fails_fast(pool: db.Pool, services: LocalStage, report_bound: BoundReport) -> None:
    warm(pool)
    services.pgbouncer.stop()
    try:
        started = time.monotonic()
        with pytest.raises(db.DatabaseUnavailable) as raised:
            db.run_bounded(select_one, timeout=CHECK_BOUND_SECONDS, pool=pool)
        elapsed = time.monotonic() - started
    finally:
        services.pgbouncer.start()
    assert not isinstance(raised.value, db.DatabaseTimeout), "should fail on the refused connection"
    assert elapsed < 1.0
    report_bound("PgBouncer down -> DatabaseUnavailable after", elapsed, 1.0)


@pytest.mark.drill
def test_plain_query_through_pgbouncer_hangs_past_connect_timeout(services: LocalStage) -> None:
    """The hazard the bound exists for: a warm client's query waits for a server, connect_timeout or not."""
    conn = psycopg.connect(services.pooled_url(), connect_timeout=2, autocommit=True)
    conn.execute("SELECT 1")
    finished = threading.Event()

    def query() -> None:
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            pass
        finally:
            finished.set()

    services.stop_postgres()
    try:
        threading.Thread(target=query, daemon=True).start()
        assert not finished.wait(3.0), "SELECT 1 should still be waiting for a server after 3 s"
        db._sever(conn)  # the cut run_bounded makes at its deadline: the blocked reader wakes at once
        assert finished.wait(1.0)
    finally:
        conn.close()
        services.start_postgres()
        wait_until_pooler_serves(services)


@pytest.mark.drill
def test_postgres_down_answers_within_bound_then_recovers(
    pool: db.Pool, services: LocalStage, report_bound: BoundReport
) -> None:
    warm(pool)
    services.stop_postgres()
    try:
        started = time.monotonic()
        with pytest.raises(db.DatabaseTimeout):
            db.run_bounded(select_one, timeout=CHECK_BOUND_SECONDS, pool=pool)
        elapsed = time.monotonic() - started
    finally:
        services.start_postgres()
    assert elapsed < CHECK_BOUND_SECONDS + TIMER_SLACK_SECONDS
    report_bound(
        "Postgres down behind PgBouncer -> DatabaseTimeout after",
        elapsed,
        CHECK_BOUND_SECONDS + TIMER_SLACK_SECONDS,
    )

    # Same process, same pool: it serves again once PgBouncer can log in to Postgres.
    started = time.monotonic()
    result = None
    while result is None and time.monotonic() - started < 15:
        try:
            result = db.run_bounded(select_one, timeout=CHECK_BOUND_SECONDS, pool=pool)
        except db.DatabaseUnavailable:
            time.sleep(0.1)
    recovery = time.monotonic() - started
    assert result == 1
    report_bound("recovery after Postgres restart (same pool)", recovery)

    # The severed connection was discarded, not handed out again; nothing is left checked out.
    stats = pool.get_stats()
    assert stats.get("returns_bad", 0) + stats.get("connections_lost", 0) >= 1
    assert settled_pool_stats(pool).active == 0  # nothing stuck checked out
    assert db.run_bounded(select_one, timeout=CHECK_BOUND_SECONDS, pool=pool) == 1


def test_failures_never_show_the_password(services: LocalStage) -> None:
    wrong = services.pooled_url().replace(services.postgres.password, "not-the-password-x9")
    pool = db.create_pool(db.PoolConfig(conninfo=wrong, max_size=1, timeout_seconds=1.0))
    try:
        with pytest.raises(db.DatabaseUnavailable) as raised:
            db.run_bounded(select_one, timeout=3, pool=pool)
    finally:
        pool.close()
    texts = [str(raised.value), repr(raised.value), str(raised.value.__cause__)]
    assert not any("not-the-password-x9" in text or services.postgres.password in text for text in texts)
    assert "not-the-password-x9" not in repr(db.PoolConfig(conninfo=wrong))


def test_process_pool_is_created_once_and_reused(pooled_url: str) -> None:
    first = db.open_pool(db.PoolConfig(conninfo=pooled_url, max_size=2))
    try:
        assert db.get_pool() is first
        assert db.get_pool() is first
    finally:
        db.close_pool()
    assert db.pool_stats() == db.PoolStats(active=0, idle=0, waiting=0, size=0, max_size=0)


# --- configuration ----------------------------------------------------------------------------------------


@dataclass
class FakePoolSettings:
    database_url: SecretStr | None = field(
        default_factory=lambda: SecretStr("postgresql://app:s3cret@db.example.com/app")
    )
    stage: str = "staging"
    db_pool_min_size: int = 4
    db_pool_max_size: int = 20
    db_pool_timeout_seconds: float = 5.0
    db_connect_timeout_seconds: float = 1.0
    db_max_idle_seconds: float = 120.0


def test_config_from_settings() -> None:
    config = db.PoolConfig.from_settings(FakePoolSettings(), on_lambda=False)
    assert (config.min_size, config.max_size, config.timeout_seconds) == (4, 20, 5.0)
    kwargs = config.connection_kwargs()
    assert kwargs["prepare_threshold"] is None
    assert kwargs["connect_timeout"] == db.LIBPQ_MIN_CONNECT_TIMEOUT  # libpq ignores less than 2 s
    assert "s3cret" not in repr(config)


def test_config_keeps_at_most_one_warm_connection_on_lambda() -> None:
    assert db.PoolConfig.from_settings(FakePoolSettings(), on_lambda=True).min_size == 1


def test_config_refuses_oversized_pool() -> None:
    with pytest.raises(ValueError, match="max_size must be between 1 and 30"):
        db.PoolConfig(conninfo="", max_size=31)


def test_missing_database_url_is_a_clear_unavailable_error() -> None:
    with pytest.raises(db.DatabaseNotConfigured, match="DATABASE_URL is not set"):
        db.PoolConfig.from_settings(FakePoolSettings(database_url=None))


def test_import_stays_light() -> None:
    code = (
        "import sys, runtime.db, runtime.health, runtime.handler, runtime.serve; "
        "heavy = [m for m in ('psycopg', 'psycopg_pool') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
