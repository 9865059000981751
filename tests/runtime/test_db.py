"""runtime.db on a real PostgreSQL 15 behind a real PgBouncer in transaction pooling mode: the one bounded
path (``Pool.connection()``), its round trips (counted by PgBouncer), and its answer in each fault."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import errors
from pydantic import SecretStr

from localstage import LocalStage
from runtime import db, deadlines
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


def query_count(stage: LocalStage) -> int:
    """PgBouncer's running count of queries (round trips) sent to the test database."""
    with psycopg.connect(
        stage.pgbouncer.admin_url(), autocommit=True, prepare_threshold=None, connect_timeout=5
    ) as admin:
        cursor = admin.execute("SHOW STATS")
        names = [column.name for column in cursor.description or []]
        for row in cursor.fetchall():
            stats = dict(zip(names, row, strict=True))
            if stats["database"] == stage.postgres.database:
                return int(stats["total_query_count"])
    raise AssertionError("PgBouncer reported no statistics for the test database")


def hold(pool: db.Pool, count: int, stack: ExitStack) -> list[psycopg.Connection[tuple[Any, ...]]]:
    """Lease ``count`` connections until ``stack`` closes (the way to exhaust a pool)."""
    return [stack.enter_context(pool.connection(timeout=30)) for _ in range(count)]


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
    with pool.connection(timeout=5) as conn:
        assert select_one(conn) == 1


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
    with pool.connection(timeout=10) as first, pool.connection(timeout=10) as second:
        assert first.prepare_threshold is None
        assert second.prepare_threshold is None
        assert interleave_queries(first, second) == [(value,) for value in range(20) for _ in range(2)]


def test_concurrent_clients_share_the_pooler_safely(pool: db.Pool) -> None:
    """Four threads, each its own pooled connection, many transactions each through PgBouncer."""
    failures: list[BaseException] = []

    def client(worker: int) -> None:
        try:
            for value in range(30):
                with pool.connection(timeout=10) as conn, conn.transaction():
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
    assert pool.counters()["requests_num"] >= 120


# --- one round trip -------------------------------------------------------------------------------------


def test_a_warm_request_makes_one_round_trip(pool: db.Pool, services: LocalStage) -> None:
    """Counted by PgBouncer: no liveness query, no BEGIN/COMMIT around a one-query unit of work."""
    warm(pool)
    before = query_count(services)
    for _ in range(10):
        with pool.connection(timeout=5) as conn:
            assert select_one(conn) == 1
    assert query_count(services) - before == 10


def test_a_connection_idle_past_the_bypass_window_is_checked_first(
    pool: db.Pool, services: LocalStage
) -> None:
    """Idle longer than LIVENESS_BYPASS_SECONDS (a thawed Lambda, say): one empty query checks it first."""
    warm(pool)
    time.sleep(db.LIVENESS_BYPASS_SECONDS + 0.2)
    before = query_count(services)
    with pool.connection(timeout=5) as conn:
        assert select_one(conn) == 1
    assert query_count(services) - before == 2  # the check, then the query
    before = query_count(services)
    with pool.connection(timeout=5) as conn:  # used just now: no check again
        assert select_one(conn) == 1
    assert query_count(services) - before == 1


def test_statements_autocommit_and_transactions_are_explicit(pool: db.Pool) -> None:
    with pool.connection(timeout=5) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast_db_test (value int)")
        conn.execute("TRUNCATE ballast_db_test")

    def work() -> None:
        with pool.connection(timeout=5) as conn:
            with conn.transaction():
                conn.execute("INSERT INTO ballast_db_test VALUES (1)")
            conn.execute("INSERT INTO ballast_db_test VALUES (2)")  # autocommit: committed on its own
            with conn.transaction():
                conn.execute("INSERT INTO ballast_db_test VALUES (3)")
                raise RuntimeError("the application failed inside a transaction: rolled back")

    with pytest.raises(RuntimeError):
        work()
    with pool.connection(timeout=5) as conn:
        conn.autocommit = False  # the work may switch it off: its open transaction is committed at exit
        conn.execute("INSERT INTO ballast_db_test VALUES (4)")
    with pool.connection(timeout=5) as conn:
        assert conn.autocommit, "the next lease gets autocommit back"
        rows = conn.execute("SELECT value FROM ballast_db_test ORDER BY value").fetchall()
        conn.execute("DROP TABLE ballast_db_test")
    assert rows == [(1,), (2,), (4,)]


def test_sql_errors_pass_through_unchanged(pool: db.Pool) -> None:
    """The application's own mistakes are not "database unavailable" (not a 503): they stay psycopg errors."""
    with pytest.raises(errors.UndefinedTable), pool.connection(timeout=5) as conn:
        conn.execute("SELECT * FROM no_such_table")
    with pool.connection(timeout=5) as conn:  # and the connection is fine afterwards
        assert select_one(conn) == 1


# --- queueing and exhaustion ------------------------------------------------------------------------------


def test_waiters_queue_then_fail_with_pool_exhausted(
    process_pool: db.Pool, report_bound: BoundReport
) -> None:
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
    with ExitStack() as stack:
        hold(process_pool, 2, stack)
        thread.start()
        for _ in range(40):  # while the waiter is queued, the pool reports it
            seen_waiting.append(db.pool_stats().waiting)
            if seen_waiting[-1]:
                break
            time.sleep(0.01)
        thread.join(timeout=5)
    assert 1 in seen_waiting
    assert len(outcome) == 1
    assert isinstance(outcome[0], db.PoolExhausted)
    assert "2 of 2 in use" in str(outcome[0])
    assert 0.5 <= elapsed[0] < 0.5 + TIMER_SLACK_SECONDS
    report_bound("pool exhausted -> PoolExhausted after", elapsed[0], 0.5 + TIMER_SLACK_SECONDS)


def test_a_waiter_is_served_when_a_connection_returns(process_pool: db.Pool) -> None:
    results: list[object] = []

    def waiter() -> None:
        with db.connection(timeout=5) as conn:
            results.append(select_one(conn))

    thread = threading.Thread(target=waiter)
    with ExitStack() as first:
        hold(process_pool, 1, first)
        with ExitStack() as second:
            hold(process_pool, 1, second)
            thread.start()
            time.sleep(0.2)
        thread.join(timeout=5)
    assert results == [1]


def test_the_invocation_deadline_bounds_the_wait_for_a_connection(process_pool: db.Pool) -> None:
    """Inside an invocation the pool timeout (0.5 s here) is cut short by the invocation's deadline."""
    with ExitStack() as stack:
        hold(process_pool, 2, stack)
        token = deadlines.set_invocation_end(time.monotonic() + 0.2 + margin_before_end())
        try:
            started = time.monotonic()
            with pytest.raises(db.PoolExhausted), db.connection():
                pass
            elapsed = time.monotonic() - started
        finally:
            deadlines.reset_invocation_end(token)
    assert 0.15 <= elapsed < 0.2 + TIMER_SLACK_SECONDS


def margin_before_end() -> float:
    """How long before the invocation's end its database deadline falls (flush bound + answer margin)."""
    token = deadlines.set_invocation_end(1000.0)
    try:
        return 1000.0 - deadlines.database_deadline(None, 0.0)
    finally:
        deadlines.reset_invocation_end(token)


def test_a_closed_pool_is_a_clear_database_unavailable(pooled_url: str) -> None:
    pool = db.create_pool(db.PoolConfig(conninfo=pooled_url, max_size=1))
    warm(pool)
    pool.close()
    with pytest.raises(db.DatabaseUnavailable, match="pool is closed"), pool.connection(timeout=1):
        pass


def test_slow_work_is_cut_at_the_deadline_and_its_connection_discarded(
    pool: db.Pool, services: LocalStage
) -> None:
    warm(pool)
    started = time.monotonic()
    with pytest.raises(db.DatabaseTimeout), pool.connection(timeout=0.5) as conn:
        conn.execute("SELECT pg_sleep(10)")
    assert time.monotonic() - started < 0.5 + TIMER_SLACK_SECONDS
    assert settled_pool_stats(pool).active == 0  # the severed connection went back (and was discarded)
    assert pool.counters().get("returns_bad", 0) >= 1
    with pool.connection(timeout=5) as conn:
        assert select_one(conn) == 1


# --- faults -----------------------------------------------------------------------------------------------


@pytest.mark.drill
def test_pgbouncer_down_fails_fast(pool: db.Pool, services: LocalStage, report_bound: BoundReport) -> None:
    """A warm pool's connections die with PgBouncer and the new one is refused: 503 at once, not at the
    deadline (the refused connect fails the queued request)."""
    warm(pool)
    services.pgbouncer.stop()
    try:
        started = time.monotonic()
        with pytest.raises(db.DatabaseUnavailable) as raised, pool.connection(timeout=CHECK_BOUND_SECONDS):
            pass
        elapsed = time.monotonic() - started
    finally:
        services.pgbouncer.start()
    assert not isinstance(raised.value, db.DatabaseTimeout), "should fail on the refused connection"
    assert elapsed < 1.0
    report_bound("PgBouncer down -> DatabaseUnavailable after", elapsed, 1.0)


@pytest.mark.drill
def test_a_restarted_pgbouncer_costs_one_failed_check(
    services: LocalStage, pooled_url: str, report_bound: BoundReport
) -> None:
    """Three idle connections die with PgBouncer; the first request finds one dead, drains its siblings
    and is served on a fresh connection: one failed check, not three."""
    pool = db.create_pool(db.PoolConfig(conninfo=pooled_url, max_size=4, timeout_seconds=5.0))
    try:
        with ExitStack() as stack:
            hold(pool, 3, stack)
        assert db.pool_stats(pool).idle == 3
        services.restart_pgbouncer()
        before = pool.counters().get("returns_bad", 0)
        started = time.monotonic()
        with pool.connection(timeout=CHECK_BOUND_SECONDS) as conn:
            assert select_one(conn) == 1
        elapsed = time.monotonic() - started
        assert pool.counters().get("returns_bad", 0) - before == 1  # one dead connection tried
        for _ in range(5):
            with pool.connection(timeout=CHECK_BOUND_SECONDS) as conn:
                assert select_one(conn) == 1
        assert pool.counters().get("returns_bad", 0) - before == 1  # the drained siblings never lent
    finally:
        pool.close()
    report_bound("first request after a PgBouncer restart served after", elapsed, CHECK_BOUND_SECONDS)


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
        db.sever(conn)  # the cut the watchdog makes at the deadline: the blocked reader wakes at once
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
        with pytest.raises(db.DatabaseUnavailable), pool.connection(timeout=CHECK_BOUND_SECONDS) as conn:
            select_one(conn)
        elapsed = time.monotonic() - started
    finally:
        services.start_postgres()
    assert elapsed < CHECK_BOUND_SECONDS + TIMER_SLACK_SECONDS
    report_bound(
        "Postgres down behind PgBouncer -> DatabaseUnavailable after",
        elapsed,
        CHECK_BOUND_SECONDS + TIMER_SLACK_SECONDS,
    )

    # Same process, same pool: it serves again once PgBouncer can log in to Postgres.
    started = time.monotonic()
    result = None
    while result is None and time.monotonic() - started < 15:
        try:
            with pool.connection(timeout=CHECK_BOUND_SECONDS) as conn:
                result = select_one(conn)
        except db.DatabaseUnavailable:
            time.sleep(0.1)
    recovery = time.monotonic() - started
    assert result == 1
    report_bound("recovery after Postgres restart (same pool)", recovery)
    assert settled_pool_stats(pool).active == 0  # nothing stuck checked out
    with pool.connection(timeout=CHECK_BOUND_SECONDS) as conn:
        assert select_one(conn) == 1


def test_failures_never_show_the_password(services: LocalStage) -> None:
    wrong = services.pooled_url().replace(services.postgres.password, "not-the-password-x9")
    pool = db.create_pool(db.PoolConfig(conninfo=wrong, max_size=1, timeout_seconds=1.0))
    try:
        with pytest.raises(db.DatabaseUnavailable) as raised, pool.connection(timeout=3):
            pass
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
