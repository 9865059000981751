"""Pooled Postgres: one psycopg_pool ``ConnectionPool`` per process, opened on first use, reused while warm.

Safe behind a PgBouncer in ``pool_mode=transaction`` (Neon's pooler): server-side prepared statements are off
(``prepare_threshold=None``), because consecutive transactions of one client land on different server
connections. Waiters queue up to the pool timeout, then fail with ``PoolExhausted``; every database failure
surfaces as ``DatabaseUnavailable`` (→ 503), whose message never holds a credential.

``run_bounded`` runs a unit of work under a hard deadline. Through PgBouncer with Postgres down a query
waits for ``query_wait_timeout`` (120 s by default) and neither ``connect_timeout`` nor ``asyncio.wait_for``
stops it, so at the deadline the connection the work is blocked on is severed (socket shutdown): the blocked
read wakes with an error, the caller gets ``DatabaseTimeout`` and the pool discards that connection instead of
handing a poisoned one to the next request. When the pool has an idle connection (the warm path) the work
runs on the caller's thread and one watchdog thread holds the deadline; otherwise it runs on a worker thread
while the caller watches the pool, so a database that refuses new connections fails the call at once.

psycopg and psycopg_pool are imported on first use only: the runtime stays light at import.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from runtime import constants

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool
    from pydantic import SecretStr

    Pool = ConnectionPool[Connection[TupleRow]]

T = TypeVar("T")

DEFAULT_MAX_SIZE = 20
MAX_POOL_SIZE = 30  # Neon's pooler allows many clients, but each Lambda instance stays a good citizen
LAMBDA_MAX_MIN_SIZE = 1  # a Lambda instance serves one request at a time: keep at most one warm connection
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_IDLE_SECONDS = 300.0
DEFAULT_MAX_LIFETIME_SECONDS = 1800.0
# After this long failing to connect the pool stops its backed-off retries; the next request starts afresh.
# Short, so a database that comes back is used within seconds rather than after a doubled back-off.
DEFAULT_RECONNECT_TIMEOUT_SECONDS = 10.0
LIBPQ_MIN_CONNECT_TIMEOUT = 2  # libpq treats smaller connect_timeout values as 2 s
_ERROR_POLL_SECONDS = 0.02
# The warm path takes an idle connection or gives up this fast (another thread took it, or it was broken
# and discarded) and falls back to the worker path, which fails fast when new connections are refused.
_WARM_TAKE_SECONDS = 0.02


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
    max_size: int = DEFAULT_MAX_SIZE
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    max_idle_seconds: float = DEFAULT_MAX_IDLE_SECONDS
    max_lifetime_seconds: float = DEFAULT_MAX_LIFETIME_SECONDS
    reconnect_timeout_seconds: float = DEFAULT_RECONNECT_TIMEOUT_SECONDS
    max_waiting: int = 0  # 0: the queue is bounded by time (timeout_seconds), not length
    application_name: str = "ballast"

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.max_size <= MAX_POOL_SIZE:
            problems.append(f"max_size must be between 1 and {MAX_POOL_SIZE} (got {self.max_size})")
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
            min_size = min(min_size, LAMBDA_MAX_MIN_SIZE)
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


_pool: Pool | None = None
_pool_lock = threading.Lock()


def create_pool(config: PoolConfig, *, name: str = "ballast") -> Pool:
    """A new pool opened without waiting (min_size connections are made in the background)."""
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

    pool: Pool = ConnectionPool(
        config.conninfo,
        connection_class=Connection,
        kwargs=config.connection_kwargs(),
        min_size=config.min_size,
        max_size=config.max_size,
        open=False,
        check=_check_connection,
        name=name,
        timeout=config.timeout_seconds,
        max_waiting=config.max_waiting,
        max_lifetime=config.max_lifetime_seconds,
        max_idle=config.max_idle_seconds,
        reconnect_timeout=config.reconnect_timeout_seconds,
        num_workers=2,
    )
    # Don't wait: a cold start must not fail (or stall) because the database is slow; requests wait instead.
    pool.open(wait=False)
    return pool


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


def pool_stats(pool: Pool | None = None) -> PoolStats:
    """Active/idle/waiting from ``get_stats()``; zeros when no pool has been opened yet."""
    pool = pool if pool is not None else _pool
    if pool is None:
        return PoolStats(active=0, idle=0, waiting=0, size=0, max_size=0)
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    idle = stats.get("pool_available", 0)
    return PoolStats(
        active=max(size - idle, 0),
        idle=idle,
        waiting=stats.get("requests_waiting", 0),
        size=size,
        max_size=stats.get("pool_max", pool.max_size),
    )


@contextmanager
def connection(timeout: float | None = None) -> Iterator[Connection[TupleRow]]:
    """A pooled connection for one unit of work (committed on success, rolled back on error).

    Waits up to ``timeout`` (default: the pool timeout) for a free connection, then raises ``PoolExhausted``;
    a lost or refused connection raises ``DatabaseUnavailable``.
    """
    pool = get_pool()
    with _translated_errors(pool, timeout), pool.connection(timeout=timeout) as conn:
        yield conn


def run_bounded(
    work: Callable[[Connection[TupleRow]], T],
    *,
    timeout: float,
    pool: Pool | None = None,
    fail_fast_on_connect_error: bool = True,
) -> T:
    """Run ``work`` with a pooled connection and return its result, or raise within ``timeout`` seconds.

    Raises ``DatabaseTimeout`` at the deadline (the connection in use is severed and discarded),
    ``PoolExhausted`` when no connection frees up in time, and ``DatabaseUnavailable`` when the database
    refuses connections — as soon as the pool fails a fresh connection attempt, not at the deadline, when
    ``fail_fast_on_connect_error``.
    """
    pool = pool if pool is not None else get_pool()
    deadline = time.monotonic() + timeout
    stats = pool.get_stats()
    if stats.get("pool_available", 0) > 0:
        ran, result = _run_on_caller(_Attempt(pool=pool, work=work, deadline=deadline), timeout)
        if ran:
            return result  # type: ignore[return-value]  # ran: the work's own result
    errors_at_start = stats.get("connections_errors", 0)  # before the warm try: its failed reconnects count
    attempt: _Attempt[T] = _Attempt(pool=pool, work=work, deadline=deadline)
    _workers.submit(attempt.run)
    while not attempt.done.wait(max(0.0, min(_ERROR_POLL_SECONDS, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            attempt.abandon()
            raise _deadline_error(attempt, pool, timeout)
        if fail_fast_on_connect_error and pool.get_stats().get("connections_errors", 0) > errors_at_start:
            attempt.abandon()
            raise DatabaseUnavailable("the database refused or dropped a new connection")
    return attempt.outcome()


def _run_on_caller(attempt: _Attempt[T], timeout: float) -> tuple[bool, T | None]:
    """The warm path: ``(True, result)``, or ``(False, None)`` when no idle connection could be had at once.

    The watchdog severs the connection at the deadline, so a blocked read here wakes with an error that
    becomes the deadline's error."""
    from psycopg_pool import PoolTimeout

    previous, _current_attempt.value = _current_attempt.value, attempt  # the pool's check is severable too
    _watchdog.arm(attempt)
    try:
        with _translated_errors(attempt.pool, None):  # a closed pool, a refused connection…
            try:
                conn = attempt.take(min(_WARM_TAKE_SECONDS, attempt.deadline - time.monotonic()))
            except PoolTimeout:
                if attempt.abandoned:
                    raise _deadline_error(attempt, attempt.pool, timeout) from None
                return False, None
            return True, attempt.use(conn)
    except Exception as error:
        if attempt.abandoned:
            raise _deadline_error(attempt, attempt.pool, timeout) from error
        raise
    finally:
        attempt.done.set()  # disarms the watchdog
        _current_attempt.value = previous


def _deadline_error(attempt: _Attempt[Any], pool: Pool, timeout: float) -> DatabaseUnavailable:
    """Why the deadline passed: the database was silent, or no connection ever came (pool full or not)."""
    if attempt.reached_database:
        return DatabaseTimeout(f"the database did not answer within {timeout:.1f} s")
    stats = pool_stats(pool)
    if stats.size >= stats.max_size and stats.idle == 0:
        return PoolExhausted(
            f"no database connection free within {timeout:.1f} s "
            f"({stats.active} of {stats.max_size} in use, {stats.waiting} waiting)"
        )
    return DatabaseTimeout(f"no database connection could be made within {timeout:.1f} s")


@dataclass(eq=False)
class _Attempt(Generic[T]):
    """One bounded unit of work, run on the caller's thread (watched by the watchdog) or on a worker thread
    (watched by the caller); whoever watches abandons it at the deadline."""

    pool: Pool
    work: Callable[[Connection[TupleRow]], T]
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: Connection[TupleRow] | None = None
    _abandoned: bool = False
    reached_database: bool = False  # a connection was in this attempt's hands (check or work)
    _result: T | None = None
    _error: BaseException | None = None

    def run(self) -> None:
        """The worker path: the outcome is kept for the caller, who may have left at the deadline."""
        _current_attempt.value = self
        try:
            with _translated_errors(self.pool, None):
                self._result = self.use(self.take(self.deadline - time.monotonic()))
        except BaseException as error:  # handed to the caller, who translates it
            self._error = error
        finally:
            _current_attempt.value = None
            self.done.set()

    def take(self, wait: float) -> Connection[TupleRow]:
        """A checked connection from the pool, waiting at most ``wait`` seconds (raises ``PoolTimeout``)."""
        return self.pool.getconn(timeout=max(wait, 0.001))

    def use(self, conn: Connection[TupleRow]) -> T:
        """Run the work on ``conn`` (committed, or rolled back on error) and give the connection back."""
        try:
            self.attach(conn)
            try:
                result = self.work(conn)
                conn.commit()
            except BaseException:
                with suppress(Exception):
                    conn.rollback()
                raise
            finally:
                self.detach()
        finally:
            # A severed connection is BAD: the pool drops it and makes a fresh one.
            self.pool.putconn(conn)
        return result

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    def attach(self, conn: Connection[TupleRow]) -> None:
        """Register the connection this thread may block on (the pool's check runs here too)."""
        with self._lock:
            self._conn = conn
            self.reached_database = True
            if self._abandoned:
                _sever(conn)

    def detach(self) -> None:
        with self._lock:
            self._conn = None

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            if self._conn is not None:
                _sever(self._conn)

    def outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]  # set whenever no error was


class _Workers:
    """Reusable daemon threads for bounded attempts (a handoff costs ~25 µs, a new thread ~110 µs).

    A worker busy with an abandoned attempt is simply not idle: a new one starts when none is idle, and
    at most ``max_idle`` are kept once things calm down.
    """

    def __init__(self, max_idle: int = 4) -> None:
        self._max_idle = max_idle
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            jobs = self._idle.pop() if self._idle else None
        if jobs is None:
            jobs = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(jobs,), name="ballast-db-bounded", daemon=True).start()
        jobs.put(job)

    def _serve(self, jobs: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            jobs.get()()  # jobs never raise: _Attempt.run keeps the outcome
            with self._lock:
                if len(self._idle) >= self._max_idle:
                    return
                self._idle.append(jobs)


_workers = _Workers()


class _Watchdog:
    """One daemon thread that abandons caller-thread attempts still running at their deadline.

    Arming is a heap push; the thread is woken only when an attempt's deadline is earlier than the one it
    sleeps towards, and finished attempts are dropped whenever it wakes (or the heap grows large).
    """

    _COMPACT_AT = 1024

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Attempt[Any]]] = []
        self._order = itertools.count()
        self._wake_at: float | None = None  # the deadline the thread sleeps towards; None: idle
        self._started = False

    def arm(self, attempt: _Attempt[Any]) -> None:
        with self._cond:
            if len(self._heap) >= self._COMPACT_AT:
                self._heap = [entry for entry in self._heap if not entry[2].done.is_set()]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (attempt.deadline, next(self._order), attempt))
            if not self._started:
                threading.Thread(target=self._serve, name="ballast-db-watchdog", daemon=True).start()
                self._started = True
            elif self._wake_at is None or attempt.deadline < self._wake_at:
                self._cond.notify()

    def _serve(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                live = [entry for entry in self._heap if not entry[2].done.is_set()]
                for deadline, _, attempt in live:
                    if deadline <= now:
                        attempt.abandon()
                self._heap = [entry for entry in live if entry[0] > now]
                heapq.heapify(self._heap)
                self._wake_at = self._heap[0][0] if self._heap else None
                self._cond.wait(None if self._wake_at is None else self._wake_at - now)


_watchdog = _Watchdog()


class _CurrentAttempt(threading.local):
    value: _Attempt[Any] | None = None


_current_attempt = _CurrentAttempt()


def _check_connection(conn: Connection[TupleRow]) -> None:
    """The pool's check on checkout, made severable when it runs inside ``run_bounded``."""
    from psycopg_pool import ConnectionPool

    attempt = _current_attempt.value
    if attempt is None:
        ConnectionPool.check_connection(conn)
        return
    attempt.attach(conn)
    try:
        ConnectionPool.check_connection(conn)
    finally:
        attempt.detach()


def _sever(conn: Connection[TupleRow]) -> None:
    """Shut the connection's socket down so a thread blocked reading it wakes with an error.

    Closing the connection from another thread would free libpq state under the reader; shutdown leaves the
    descriptor valid and only ends the stream, so the reader gets a clean ``OperationalError``.
    """
    with suppress(Exception):
        fd = os.dup(conn.pgconn.socket)
        with socket.socket(fileno=fd) as sock:
            sock.shutdown(socket.SHUT_RDWR)


class _translated_errors:  # named like the function it replaced: it reads as `with _translated_errors(...)`
    """Pool and connection failures become ``DatabaseUnavailable`` errors with credential-free messages.

    A class rather than ``@contextmanager``: it sits on every bounded query, and entering it costs nothing."""

    __slots__ = ("_pool", "_timeout")

    def __init__(self, pool: Pool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if error is None:
            return
        translated = _translation_of(error, self._pool, self._timeout)
        if translated is not None:
            raise translated from error


def _translation_of(error: BaseException, pool: Pool, timeout: float | None) -> DatabaseUnavailable | None:
    import psycopg
    from psycopg_pool import PoolClosed, PoolTimeout, TooManyRequests

    if isinstance(error, (PoolTimeout, TooManyRequests)):
        stats = pool_stats(pool)
        waited = pool.timeout if timeout is None else timeout
        if stats.size >= stats.max_size and stats.idle == 0:
            return PoolExhausted(
                f"no database connection free within {waited:.1f} s "
                f"({stats.active} of {stats.max_size} in use, {stats.waiting} waiting)"
            )
        return DatabaseUnavailable(f"could not get a database connection within {waited:.1f} s")
    if isinstance(error, PoolClosed):
        return DatabaseUnavailable("the database pool is closed")
    if isinstance(error, psycopg.OperationalError):
        return DatabaseUnavailable(f"database connection failed ({type(error).__name__})")
    return None
