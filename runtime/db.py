"""Pooled Postgres with one bounded path: every database call a function makes ends by a deadline.

``get_pool()`` is the process pool (psycopg_pool, opened on first use, reused while warm) behind one entry,
``get_pool().connection()``: a context manager lending a connection for one unit of work. It is the only way
in, for the health check and for application code alike, so every caller gets the same guarantees:

* **A deadline.** The explicit ``timeout``, else the invocation's (``@lambda_handler`` sets it from the Lambda
  context's remaining time, less the Sentry flush bound and ``ANSWER_MARGIN_SECONDS``), else
  ``DEFAULT_DATABASE_DEADLINE_SECONDS``. Through PgBouncer with Postgres down a query waits for PgBouncer's
  ``query_wait_timeout`` (120 s by default), and neither ``connect_timeout`` nor psycopg's cancel reaches a
  query queued inside PgBouncer; so at the deadline one watchdog thread shuts the connection's socket down:
  the blocked read wakes with an error, the caller gets ``DatabaseTimeout``, and the connection is discarded.
* **503, never 500, never a hang.** A full pool (``PoolExhausted``), a refused or dropped connection, a closed
  pool: every database failure surfaces as ``DatabaseUnavailable`` (→ 503), its message free of credentials.
  SQL errors (a syntax error, a constraint) are the application's and pass through unchanged.
* **One round trip for a warm request.** Connections run in autocommit (one statement = one round trip;
  ``with conn.transaction():`` groups statements atomically). Liveness is checked (an empty query) only for a
  connection idle longer than ``LIVENESS_BYPASS_SECONDS`` — HikariCP skips its check within 500 ms, pgxpool
  within 1 s — or whose socket has something to read while idle (the server closed it); a Lambda thawed
  after minutes still checks. When one idle connection is dead its idle siblings are suspect too: the pool
  is drained, so a restarted PgBouncer costs one failed check, not one per connection.

Server-side prepared statements are off (``prepare_threshold=None``): behind PgBouncer in transaction mode
consecutive transactions of one client land on different server connections.

psycopg and psycopg_pool are imported on first use only: the runtime stays light at import.
"""

from __future__ import annotations

import math
import os
import select
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from runtime import constants, deadlines

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool
    from pydantic import SecretStr

LIBPQ_MIN_CONNECT_TIMEOUT = 2  # libpq treats smaller connect_timeout values as 2 s
# A connection used this recently is taken without a liveness round trip (HikariCP: 500 ms). Its socket is
# still polled (no round trip): a server that closed it shows as readable.
LIVENESS_BYPASS_SECONDS = 0.5
# After this long failing to connect the pool stops its backed-off retries; the next request starts afresh.
# Short, so a database that comes back is used within seconds rather than after a doubled back-off.
RECONNECT_TIMEOUT_SECONDS = 10.0
# The first retry after a refused connection (then doubling): a PgBouncer restart takes ~0.1-0.5 s, and
# psycopg_pool's own 1 s would keep every request arriving after it waiting (the restart drill's flake).
RECONNECT_FIRST_DELAY_SECONDS = 0.1
# Checkouts per call: a dead connection found by its check drains the pool, so the next one is fresh.
_MAX_CHECKOUTS = 3


class DatabaseUnavailable(RuntimeError):
    """The database cannot serve this request now; callers answer 503. Messages never hold credentials."""

    reason = "unavailable"


class DatabaseNotConfigured(DatabaseUnavailable):
    reason = "not_configured"


class DatabaseTimeout(DatabaseUnavailable):
    reason = "timeout"


class PoolExhausted(DatabaseUnavailable):
    reason = "pool_exhausted"


class PoolSettings(Protocol):
    """The part of ``runtime.settings.Settings`` the pool reads."""

    @property
    def database_url(self) -> SecretStr | None: ...
    @property
    def stage(self) -> str: ...
    @property
    def db_pool_min_size(self) -> int: ...
    @property
    def db_pool_max_size(self) -> int: ...
    @property
    def db_pool_timeout_seconds(self) -> float: ...
    @property
    def db_connect_timeout_seconds(self) -> float: ...
    @property
    def db_max_idle_seconds(self) -> float: ...


@dataclass(frozen=True)
class PoolConfig:
    """How the process pool is built. ``conninfo`` is a secret: it is left out of repr."""

    conninfo: str = field(repr=False)
    min_size: int = 0
    max_size: int = constants.DEFAULT_POOL_MAX_SIZE
    timeout_seconds: float = constants.DEFAULT_POOL_TIMEOUT_SECONDS
    connect_timeout_seconds: float = constants.DEFAULT_CONNECT_TIMEOUT_SECONDS
    max_idle_seconds: float = constants.DEFAULT_MAX_IDLE_SECONDS
    max_lifetime_seconds: float = constants.DEFAULT_MAX_LIFETIME_SECONDS
    max_waiting: int = 0  # 0: the queue is bounded by time (timeout_seconds), not length
    application_name: str = "ballast"

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.max_size <= constants.MAX_POOL_SIZE:
            problems.append(f"max_size must be between 1 and {constants.MAX_POOL_SIZE} (got {self.max_size})")
        if not 0 <= self.min_size <= self.max_size:
            problems.append(f"min_size must be between 0 and max_size (got {self.min_size})")
        for name in (
            "timeout_seconds",
            "connect_timeout_seconds",
            "max_idle_seconds",
            "max_lifetime_seconds",
        ):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if problems:
            raise ValueError("invalid pool configuration: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, settings: PoolSettings, *, on_lambda: bool | None = None) -> PoolConfig:
        if settings.database_url is None:
            raise DatabaseNotConfigured(f"{constants.DATABASE_URL} is not set")
        if on_lambda is None:
            on_lambda = bool(os.environ.get(constants.AWS_LAMBDA_FUNCTION_NAME))
        max_size = settings.db_pool_max_size
        min_size = min(settings.db_pool_min_size, max_size)
        if on_lambda:
            min_size = min(min_size, constants.LAMBDA_MAX_MIN_SIZE)
        return cls(
            conninfo=settings.database_url.get_secret_value(),
            min_size=min_size,
            max_size=max_size,
            timeout_seconds=settings.db_pool_timeout_seconds,
            connect_timeout_seconds=settings.db_connect_timeout_seconds,
            max_idle_seconds=settings.db_max_idle_seconds,
            application_name=f"ballast-{settings.stage}",
        )

    def connection_kwargs(self) -> dict[str, Any]:
        return {
            # PgBouncer transaction mode: a prepared statement lives on one server connection, the next
            # transaction may get another ("prepared statement \"_pg3_0\" already exists"/"does not exist").
            "prepare_threshold": None,
            # One statement, one round trip: no BEGIN/COMMIT around it (conn.transaction() when atomic).
            "autocommit": True,
            "connect_timeout": max(LIBPQ_MIN_CONNECT_TIMEOUT, math.ceil(self.connect_timeout_seconds)),
            "application_name": self.application_name,
        }


@dataclass(frozen=True)
class PoolStats:
    """Immediate pool measures: connections lent out, idle in the pool, and requests queued for one."""

    active: int
    idle: int
    waiting: int
    size: int
    max_size: int

    def as_dict(self) -> dict[str, int]:
        return {
            "active": self.active,
            "idle": self.idle,
            "waiting": self.waiting,
            "size": self.size,
            "max": self.max_size,
        }


NO_POOL = PoolStats(active=0, idle=0, waiting=0, size=0, max_size=0)

# --- the pool -------------------------------------------------------------------------------------------


class Pool:
    """The process pool behind one bounded entry, ``connection()`` (see the module notes)."""

    def __init__(self, config: PoolConfig, *, name: str = "ballast") -> None:
        from psycopg import Connection

        self.config = config
        self.max_size = config.max_size
        self.timeout = config.timeout_seconds
        self._pool: ConnectionPool[Connection[TupleRow]] = _fail_fast_pool_class()(
            config.conninfo,
            connection_class=Connection,
            kwargs=config.connection_kwargs(),
            min_size=config.min_size,
            max_size=config.max_size,
            open=False,
            configure=_mark_used,
            name=name,
            timeout=config.timeout_seconds,
            max_waiting=config.max_waiting,
            max_lifetime=config.max_lifetime_seconds,
            max_idle=config.max_idle_seconds,
            reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
            num_workers=2,
        )
        # Not waiting: a cold start must not fail (or stall) on a slow database; requests wait instead.
        self._pool.open(wait=False)

    def connection(self, timeout: float | None = None) -> Lease:
        """``with pool.connection() as conn:`` — a live connection for one unit of work, within the deadline
        (``timeout`` seconds, or the invocation's; see the module notes)."""
        return Lease(self, timeout)

    def stats(self) -> PoolStats:
        """Active/idle/waiting: the immediate measures psycopg_pool's ``get_stats()`` reports, read directly
        (``get_stats()`` also copies every cumulative counter: ~2 us on each health request)."""
        raw = self._pool
        size = raw._nconns
        idle = len(raw._pool)
        return PoolStats(
            active=max(size - idle, 0), idle=idle, waiting=len(raw._waiting), size=size, max_size=raw.max_size
        )

    def counters(self) -> dict[str, int]:
        """psycopg_pool's cumulative counters (requests, connections made, lost, returned bad...)."""
        return self._pool.get_stats()

    def wait(self, timeout: float = 30.0) -> None:
        """Wait until ``min_size`` connections are open (benchmarks, warm-up)."""
        self._pool.wait(timeout=timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._pool.close(timeout=timeout)


def _fail_fast_pool_class() -> type[ConnectionPool[Connection[TupleRow]]]:
    """psycopg_pool's pool, plus two things for a database that refuses connections for a moment:

    * the requests queued for a connection fail at once (``DatabaseUnavailable``) when a new one is refused,
      instead of waiting out their deadline behind the pool's backed-off retries;
    * the first reconnect retry comes after ``RECONNECT_FIRST_DELAY_SECONDS``, not psycopg_pool's 1 s, so
      requests arriving once a restarted PgBouncer listens again are served, not queued behind the back-off.

    It hooks psycopg_pool 3.3's ``_connect``, ``_add_connection``, ``_waiting`` and ``_lock`` (the version is
    pinned; ``tests/runtime/test_db.py`` and the drills hold the behaviour); the failure goes through
    ``WaitingClient.fail``, the way ``close()`` fails waiters."""
    global _FailFastPool
    if _FailFastPool is None:
        from psycopg import Connection
        from psycopg.rows import TupleRow
        from psycopg_pool import ConnectionPool
        from psycopg_pool.base import AttemptWithBackoff

        class QuickFirstRetry(AttemptWithBackoff):
            INITIAL_DELAY = RECONNECT_FIRST_DELAY_SECONDS

        class FailFastPool(ConnectionPool[Connection[TupleRow]]):
            def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
                if attempt is None:
                    attempt = QuickFirstRetry(timeout=self.reconnect_timeout)
                super()._add_connection(attempt, growing)

            def _connect(self, timeout: float | None = None) -> Connection[TupleRow]:
                try:
                    return super()._connect(timeout)
                except Exception:
                    with self._lock:
                        waiting = list(self._waiting)
                        self._waiting.clear()
                    for client in waiting:
                        client.fail(DatabaseUnavailable("the database refused or dropped a new connection"))
                    raise

        _FailFastPool = FailFastPool
    return _FailFastPool


_FailFastPool: type[ConnectionPool[Connection[TupleRow]]] | None = None


def _mark_used(conn: Connection[TupleRow]) -> None:
    """The pool's ``configure`` hook: a fresh connection counts as just used (no check at its first lease)."""
    conn._ballast_used_at = time.monotonic()  # type: ignore[attr-defined]


class Lease:
    """One bounded use of a pooled connection: the context manager ``Pool.connection()`` returns.

    A class, not ``@contextmanager``: it sits on every request. Entering arms the watchdog and takes a live
    connection; leaving gives it back (closed first when the deadline severed it) and disarms."""

    __slots__ = ("_armed", "_pool", "_started", "_timeout", "conn", "deadline", "expired")

    def __init__(self, pool: Pool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._started = 0.0
        self.deadline = 0.0
        self.conn: Connection[TupleRow] | None = None
        self.expired = False  # set (under the watchdog's lock) when the deadline passed first
        self._armed = False

    def __enter__(self) -> Connection[TupleRow]:
        self._started = now = time.monotonic()
        self.deadline = deadlines.database_deadline(self._timeout, now)
        deadlines.watch(self)
        self._armed = True
        try:
            return self._checkout(now)
        except BaseException:
            self._release(failed=True)
            raise

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if error is None:
            self._release(failed=False)
            return
        translated = self._translation_of(error)  # before the release, which detaches the connection
        self._release(failed=True)
        if translated is not None:
            raise translated from error

    def expire(self) -> None:
        """The watchdog's action at the deadline (under its lock): sever the connection in use, if any."""
        self.expired = True
        conn = self.conn
        if conn is not None:
            sever(conn)

    def _checkout(self, now: float) -> Connection[TupleRow]:
        PoolClosed, PoolTimeout = _pool_errors()
        raw = self._pool._pool
        for _ in range(_MAX_CHECKOUTS):
            wait = min(self._pool.timeout, self.deadline - now)
            if wait <= 0:
                raise self._timed_out()
            try:
                conn = raw.getconn(timeout=wait)
            except PoolTimeout:
                raise self._no_connection(wait) from None
            except PoolClosed:
                raise DatabaseUnavailable("the database pool is closed") from None
            # (DatabaseUnavailable from a refused new connection passes through as it is.)
            self.conn = conn  # attached: from here on the watchdog can sever it
            if self.expired:
                sever(conn)
            if _alive(conn, now):
                return conn
            if self.expired:
                raise self._timed_out()  # the check itself hung (released: closed, not lent again)
            # Dead while idle: so are its idle siblings, most likely (a restarted PgBouncer closed them all).
            self.conn = None
            with suppress(Exception):
                conn.close()
            raw.putconn(conn)
            raw.drain()
            now = time.monotonic()
        raise DatabaseUnavailable(f"{_MAX_CHECKOUTS} pooled connections in a row were found dead")

    def _timed_out(self) -> DatabaseTimeout:
        budget = self.deadline - self._started
        if self.conn is None:
            return DatabaseTimeout(f"no database connection within the deadline ({budget:.1f} s)")
        return DatabaseTimeout(f"the database did not answer within {budget:.1f} s")

    def _no_connection(self, waited: float) -> DatabaseUnavailable:
        stats = self._pool.stats()
        if stats.size >= stats.max_size and stats.idle == 0:
            return PoolExhausted(
                f"no database connection free within {waited:.1f} s "
                f"({stats.active} of {stats.max_size} in use, {stats.waiting} waiting)"
            )
        return DatabaseTimeout(f"no database connection could be made within {waited:.1f} s")

    def _release(self, *, failed: bool) -> None:
        if self._armed:
            deadlines.unwatch(self)  # from here on the watchdog never touches this connection
            self._armed = False
        conn = self.conn
        if conn is None:
            return
        self.conn = None
        raw = self._pool._pool
        if self.expired:
            with suppress(Exception):
                conn.close()  # severed at the deadline: discarded, never lent again
        elif conn.broken:
            raw.drain()  # it died in use: its idle siblings are suspect too
        elif conn.pgconn.transaction_status != _IDLE:  # the work left a transaction open
            with suppress(Exception):
                conn.rollback() if failed else conn.commit()
        if not conn.closed:
            conn._ballast_used_at = time.monotonic()  # type: ignore[attr-defined]
            if not conn.autocommit and conn.pgconn.transaction_status == _IDLE:
                conn.autocommit = True  # the work switched it off: the next lease gets the default back
        raw.putconn(conn)

    def _translation_of(self, error: BaseException) -> DatabaseUnavailable | None:
        import psycopg

        if isinstance(error, psycopg.OperationalError):
            if self.expired:
                return self._timed_out()
            return DatabaseUnavailable(f"database connection failed ({type(error).__name__})")
        return None


def _pool_errors() -> tuple[type[Exception], type[Exception]]:
    """psycopg_pool's ``PoolClosed`` and ``PoolTimeout``, imported once (not one import per lease)."""
    global _POOL_ERRORS
    if _POOL_ERRORS is None:
        from psycopg_pool import PoolClosed, PoolTimeout

        _POOL_ERRORS = (PoolClosed, PoolTimeout)
    return _POOL_ERRORS


_POOL_ERRORS: tuple[type[Exception], type[Exception]] | None = None
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE, without importing psycopg at module import


def _alive(conn: Connection[TupleRow], now: float) -> bool:
    """Liveness as cheaply as it can be known: an idle connection's socket must have nothing to read (a server
    that closed it shows as readable), and one idle longer than ``LIVENESS_BYPASS_SECONDS`` also answers an
    empty query (severable at the deadline like any other query)."""
    if conn.closed:
        return False
    idle = now - getattr(conn, "_ballast_used_at", 0.0)
    if idle <= LIVENESS_BYPASS_SECONDS and not _readable(conn):
        return True
    import psycopg

    try:
        conn.execute("")
    except psycopg.Error:
        return False
    return True


def _readable(conn: Connection[TupleRow]) -> bool:
    try:
        ready, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


def sever(conn: Connection[TupleRow]) -> None:
    """Shut the connection's socket down so a thread blocked reading it wakes with an error.

    Closing the connection from another thread would free libpq state under the reader; shutdown leaves the
    descriptor valid and only ends the stream, so the reader gets a clean ``OperationalError``.
    """
    with suppress(Exception):
        fd = os.dup(conn.pgconn.socket)
        with socket.socket(fileno=fd) as sock:
            sock.shutdown(socket.SHUT_RDWR)


# --- the process pool -----------------------------------------------------------------------------------

_pool: Pool | None = None
_pool_lock = threading.Lock()


def create_pool(config: PoolConfig, *, name: str = "ballast") -> Pool:
    """A new pool opened without waiting (min_size connections are made in the background)."""
    return Pool(config, name=name)


def open_pool(config: PoolConfig) -> Pool:
    """Make a pool built from ``config`` the process pool (closing the previous one, if any)."""
    global _pool
    with _pool_lock:
        previous, _pool = _pool, create_pool(config)
    if previous is not None:
        previous.close()
    return _pool


def get_pool() -> Pool:
    """The process pool, created from the validated settings on first use."""
    global _pool
    pool = _pool
    if pool is not None:
        return pool
    with _pool_lock:
        if _pool is None:
            from runtime.settings import get_settings

            _pool = create_pool(PoolConfig.from_settings(get_settings()))
        return _pool


def close_pool(timeout: float = 5.0) -> None:
    """Close the process pool (tests, shutdown); the next ``get_pool()`` opens a new one."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close(timeout=timeout)


def connection(timeout: float | None = None) -> Lease:
    """``get_pool().connection(timeout)``: a bounded connection from the process pool."""
    return get_pool().connection(timeout)


def pool_stats(pool: Pool | None = None) -> PoolStats:
    """Counts of ``pool`` (default: the process pool); zeros when no pool has been opened yet."""
    pool = pool if pool is not None else _pool
    return NO_POOL if pool is None else pool.stats()
