"""The restore drill: branch a stage's database at a past point in time, prove the copy is usable, delete it.

1. Read the project's history window (``GET /projects/{id}``: ``history_retention_seconds``) and refuse a
   restore point outside it, in the future, or before the stage's branch existed (:class:`RestoreRefused`,
   before anything is created).
2. ``POST /projects/{id}/branches`` with ``parent_id`` = the stage's branch, ``parent_timestamp`` = the
   restore point, one read-write endpoint, and ``expires_at`` a day ahead (so even a killed drill leaves
   nothing for long); wait for its operations.
3. Connect over the branch's direct URL (bounded retries) — *time to usable* is from the request to the
   first ``SELECT 1`` answered — and run the checks in a read-only transaction with a statement timeout:
   migrations at the version the repository expects, the app's tables present with at least their rows
   (``ballast:restoreDrill.tables``), every check query true, the newest row's age (``freshnessColumn``).
4. Delete the branch whatever happened (``finally``; the client's retries and operation polling bound it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg import sql

from dbops.migrations import applied_migration_ids, migration_ids
from infra.config import RestoreDrillSettings, StageConfig
from infra.providers.credentials import NEON_API_KEY as NEON_CREDENTIAL
from infra.providers.credentials import MissingCredential
from infra.providers.http import ApiError, RetryPolicy
from infra.providers.neon_client import NeonClient, NeonProvisioningError, Operations, PollPolicy, neon_client
from runtime.scrub import scrub_text

DEFAULT_MINUTES_AGO: Final = 15.0
DRILL_BRANCH_PREFIX: Final = "ballast-drill-"
DRILL_BRANCH_LIFETIME: Final = timedelta(days=1)  # the safety net if the drill itself is killed
DRILL_COMPUTE_CU: Final = 0.25
CONNECT_DEADLINE_SECONDS: Final = 180.0  # a cold compute starts in seconds; this bounds a stuck one
CONNECT_ATTEMPT_TIMEOUT_SECONDS: Final = 10
CHECK_STATEMENT_TIMEOUT_MS: Final = 30_000
_RFC3339: Final = "%Y-%m-%dT%H:%M:%SZ"


class RestoreRefused(Exception):
    """The drill cannot start (restore point outside the window, no API key…); nothing was created."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class RestoreRequest:
    stack: str
    project_id: str
    branch_id: str
    database: str
    role: str
    api_base_url: str
    api_key: str = field(repr=False)
    restore_point: datetime
    migrations_dir: Path
    settings: RestoreDrillSettings
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll: PollPolicy = field(default_factory=PollPolicy)
    connect_deadline_seconds: float = CONNECT_DEADLINE_SECONDS

    @classmethod
    def build(
        cls,
        *,
        stack: str,
        config: StageConfig,
        project_id: str,
        branch_id: str,
        migrations_dir: Path,
        at: str | None = None,
        minutes_ago: float | None = None,
        now: datetime | None = None,
        api_key: str | None = None,
    ) -> RestoreRequest:
        """The request for ``stack``: the restore point from ``at`` or ``minutes_ago`` (default 15)."""
        try:  # explicit, else NEON_API_KEY (the drill cannot decrypt the stack's secret config)
            key = NEON_CREDENTIAL.resolve(api_key)
        except MissingCredential as error:
            raise RestoreRefused(str(error)) from None
        return cls(
            stack=stack,
            project_id=project_id,
            branch_id=branch_id,
            database=config.database_name,
            role=config.role_name,
            api_base_url=config.neon_api_base_url,
            api_key=key,
            restore_point=restore_point(at, minutes_ago, now=now),
            migrations_dir=migrations_dir,
            settings=config.restore_drill,
        )


@dataclass
class RestoreReport:
    stack: str
    restore_point: str
    history_window_seconds: int
    branch_id: str | None = None
    branch_name: str | None = None
    branch_ready_seconds: float | None = None  # request → the branch's operations finished
    time_to_usable_seconds: float | None = None  # request → first query answered on the copy
    data_age_seconds: float = 0.0  # how far behind "now" the copy is: now - restore point
    newest_row_age_at_restore_point_seconds: float | None = None
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None
    branch_deleted: bool = False  # no drill branch is left behind
    cleanup_error: str | None = None
    total_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.branch_deleted
            and bool(self.checks)
            and all(check.passed for check in self.checks)
        )

    def as_json(self) -> dict[str, Any]:
        body = {key: value for key, value in vars(self).items() if key != "checks"}
        body["checks"] = [vars(check) for check in self.checks]
        body["passed"] = self.passed
        return body


def restore_point(at: str | None, minutes_ago: float | None, *, now: datetime | None = None) -> datetime:
    """The requested point in time (UTC, whole seconds); bad input raises :class:`RestoreRefused`."""
    current = now or datetime.now(UTC)
    if at is not None:
        try:
            when = datetime.fromisoformat(at.strip())
        except ValueError:
            raise RestoreRefused("--at must be an RFC 3339 time such as 2026-12-01T21:00:00Z") from None
        if when.tzinfo is None:
            raise RestoreRefused("--at needs a time zone (e.g. a trailing Z for UTC)")
        return when.astimezone(UTC).replace(microsecond=0)
    minutes = DEFAULT_MINUTES_AGO if minutes_ago is None else minutes_ago
    if minutes < 0:
        raise RestoreRefused("--minutes-ago must be 0 or more")
    return (current - timedelta(minutes=minutes)).replace(microsecond=0)


def window_problem(
    point: datetime, *, now: datetime, history_seconds: int, branch_created: datetime | None
) -> str | None:
    """Why ``point`` cannot be restored, or None: the one rule for the history window."""
    oldest = now - timedelta(seconds=history_seconds)
    if point > now:
        return f"the restore point {_iso(point)} is in the future"
    if point < oldest:
        return (
            f"the restore point {_iso(point)} is outside the project's history window of "
            f"{_duration(history_seconds)}: the oldest restorable time is {_iso(oldest)}"
        )
    if branch_created is not None and point < branch_created:
        created = _iso(branch_created)
        return f"the restore point {_iso(point)} is before the stage's branch was created ({created})"
    return None


def run_restore_drill(
    request: RestoreRequest,
    *,
    client: Callable[[RestoreRequest], NeonClient] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RestoreReport:
    """Run the drill; raises :class:`RestoreRefused` before creating anything, otherwise reports."""
    started = clock()
    make_client = client or _client
    with make_client(request) as neon:
        now = datetime.now(UTC)
        history = _history_window(neon, request.project_id)
        parent = neon.get_branch(request.project_id, request.branch_id)
        problem = window_problem(
            request.restore_point,
            now=now,
            history_seconds=history,
            branch_created=_time(parent.get("created_at")),
        )
        if problem:
            raise RestoreRefused(f"{problem}; choose a later --at or fewer --minutes-ago")
        report = RestoreReport(
            stack=request.stack,
            restore_point=_iso(request.restore_point),
            history_window_seconds=history,
            data_age_seconds=round((now - request.restore_point).total_seconds(), 3),
            branch_name=f"{DRILL_BRANCH_PREFIX}{request.stack}-{now.strftime('%Y%m%d%H%M%S')}",
        )
        try:
            _drill(neon, request, report, clock)
        except Exception as error:  # reported, never raised: the branch is deleted and the report printed
            report.error = _safe(f"{type(error).__name__}: {error}")
        finally:
            _cleanup(neon, request, report)
            report.total_seconds = round(clock() - started, 3)
    return report


def _drill(
    neon: NeonClient, request: RestoreRequest, report: RestoreReport, clock: Callable[[], float]
) -> None:
    assert report.branch_name is not None
    body = {
        "branch": {
            "parent_id": request.branch_id,
            "name": report.branch_name,
            "parent_timestamp": _iso(request.restore_point),
            "expires_at": _iso(datetime.now(UTC).replace(microsecond=0) + DRILL_BRANCH_LIFETIME),
        },
        "endpoints": [
            {
                "type": "read_write",
                "autoscaling_limit_min_cu": DRILL_COMPUTE_CU,
                "autoscaling_limit_max_cu": DRILL_COMPUTE_CU,
            }
        ],
    }
    requested = clock()
    try:
        created = neon.create_branch(request.project_id, body)
    except ApiError as error:
        if error.ambiguous:  # the branch may exist although the answer was lost: find it, so it is deleted
            found = neon.find_branch_by_name(request.project_id, report.branch_name)
            report.branch_id = str(found["id"]) if found else None
        raise
    report.branch_id = str((created.get("branch") or {}).get("id") or "") or None
    neon.wait(request.project_id, Operations.of(created.get("operations") or []))
    report.branch_ready_seconds = round(clock() - requested, 3)
    endpoint = next((e for e in created.get("endpoints") or [] if e.get("type") == "read_write"), None)
    if report.branch_id is None or endpoint is None:
        raise NeonProvisioningError("Neon created the drill branch without a read-write endpoint")
    url = neon.connection_uri(
        request.project_id,
        branch_id=report.branch_id,
        endpoint_id=str(endpoint["id"]),
        database=request.database,
        role=request.role,
        pooled=False,
    )
    with _connect_when_ready(url, request.connect_deadline_seconds, clock) as conn:
        report.time_to_usable_seconds = round(clock() - requested, 3)
        report.checks = run_checks(conn, request.migrations_dir, request.settings)
        report.newest_row_age_at_restore_point_seconds = _newest_row_age(
            conn, request.settings.freshness_column, request.restore_point
        )


def run_checks(
    conn: psycopg.Connection[Any], migrations_dir: Path, settings: RestoreDrillSettings
) -> list[CheckResult]:
    """Every check on the restored copy (read-only, statement timeout); one failing does not stop the rest."""
    results = [_check_migrations(conn, migrations_dir)]
    for table, fewest in sorted(settings.tables.items()):
        results.append(_check_table(conn, table, fewest))
    for number, query in enumerate(settings.checks, start=1):
        results.append(_check_query(conn, number, query))
    return results


def _check_migrations(conn: psycopg.Connection[Any], migrations_dir: Path) -> CheckResult:
    expected = migration_ids(migrations_dir)
    with _read_only(conn) as cur:
        applied = applied_migration_ids(cur.connection)
    missing = [m for m in expected if m not in applied]
    version = applied[-1] if applied else "(none)"
    if missing:
        detail = (
            f"the copy is at {version}; not applied: {', '.join(missing)} "
            "(a restore there needs `./ballast migrate` against it)"
        )
        return CheckResult("migrations", False, detail)
    return CheckResult(
        "migrations", True, f"at {version} ({len(applied)} applied, as the repository expects)"
    )


def _check_table(conn: psycopg.Connection[Any], table: str, fewest: int) -> CheckResult:
    name = f"table {table}"
    try:
        with _read_only(conn) as cur:
            if cur.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                return CheckResult(name, False, "missing from the copy")
            row = cur.execute(sql.SQL("SELECT count(*) FROM {}").format(_identifier(table))).fetchone()
    except psycopg.Error as error:
        return CheckResult(name, False, _safe(f"{type(error).__name__}: {error}"))
    rows = int(row[0]) if row else 0
    if rows < fewest:
        return CheckResult(name, False, f"{rows} rows, fewer than the {fewest} a good copy holds")
    return CheckResult(name, True, f"{rows} rows (at least {fewest})")


def _check_query(conn: psycopg.Connection[Any], number: int, query: str) -> CheckResult:
    name = f"check {number}"
    try:
        with _read_only(conn) as cur:
            row = cur.execute(query.encode()).fetchone()  # operator-written SQL from the stack config
    except psycopg.Error as error:
        return CheckResult(name, False, _safe(f"{type(error).__name__}: {error}"))
    if row is None or row[0] is not True:
        return CheckResult(name, False, "did not return true")
    return CheckResult(name, True, "returned true")


def _newest_row_age(conn: psycopg.Connection[Any], column: str | None, point: datetime) -> float | None:
    if column is None:
        return None
    table, _, col = column.rpartition(".")
    try:
        with _read_only(conn) as cur:
            query = sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(col), _identifier(table))
            row = cur.execute(query).fetchone()
    except psycopg.Error:
        return None
    newest = row[0] if row else None
    if not isinstance(newest, datetime):
        return None
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return round((point - newest).total_seconds(), 3)


# Helpers ---------------------------------------------------------------------------------------------------


def _client(request: RestoreRequest) -> NeonClient:
    return neon_client(
        base_url=request.api_base_url, api_key=request.api_key, retry=request.retry, poll=request.poll
    )


def _history_window(neon: NeonClient, project_id: str) -> int:
    body = neon.api.get(f"projects/{project_id}")
    project = body.get("project") if isinstance(body, dict) else None
    seconds = project.get("history_retention_seconds") if isinstance(project, dict) else None
    if not isinstance(seconds, int) or seconds < 0:
        raise NeonProvisioningError(f"Neon project {project_id} states no history_retention_seconds")
    return seconds


def _cleanup(neon: NeonClient, request: RestoreRequest, report: RestoreReport) -> None:
    if report.branch_id is None:
        report.branch_deleted = True  # none was created (or found after a lost answer): none is left
        return
    try:
        neon.delete_branch(request.project_id, report.branch_id)
        report.branch_deleted = True
    except (ApiError, NeonProvisioningError) as error:
        report.cleanup_error = _safe(
            f"{error}; delete branch {report.branch_id} by hand (it expires within "
            f"{_duration(int(DRILL_BRANCH_LIFETIME.total_seconds()))} anyway)"
        )


@contextmanager
def _connect_when_ready(
    url: str, deadline_seconds: float, clock: Callable[[], float]
) -> Iterator[psycopg.Connection[Any]]:
    """The first connection that answers ``SELECT 1``, retried until the deadline (a cold compute)."""
    started = clock()
    delay = 0.1
    while True:
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_ATTEMPT_TIMEOUT_SECONDS)
            conn.execute("SELECT 1")
            break
        except psycopg.OperationalError as error:
            if clock() - started + delay > deadline_seconds:
                raise psycopg.OperationalError(
                    f"the drill branch did not accept connections within {deadline_seconds:g}s: "
                    f"{_safe(str(error).strip().splitlines()[0] if str(error).strip() else 'no message')}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def _read_only(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Cursor[Any]]:
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute("SET TRANSACTION READ ONLY")
        cur.execute(
            sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(CHECK_STATEMENT_TIMEOUT_MS))
        )
        yield cur


def _identifier(name: str) -> sql.Composable:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_RFC3339)


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0 and seconds:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds} s"


def _safe(text: str) -> str:
    return scrub_text(text)[:500]


def render(report: RestoreReport) -> str:
    """The report for a terminal."""
    lines = [
        f"restore drill: stack {report.stack}, restore point {report.restore_point} "
        f"(data age {report.data_age_seconds:.0f}s; "
        f"history window {_duration(report.history_window_seconds)})",
        f"  branch        {report.branch_name} ({report.branch_id or 'not created'})",
    ]
    if report.branch_ready_seconds is not None:
        lines.append(f"  branch ready  {report.branch_ready_seconds:.2f}s after the request")
    if report.time_to_usable_seconds is not None:
        lines.append(
            f"  usable        {report.time_to_usable_seconds:.2f}s after the request (first query answered)"
        )
    if report.newest_row_age_at_restore_point_seconds is not None:
        lines.append(
            f"  newest row    {report.newest_row_age_at_restore_point_seconds:.0f}s "
            "older than the restore point"
        )
    for check in report.checks:
        lines.append(f"  {'ok  ' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    if report.error:
        lines.append(f"  FAIL  drill: {report.error}")
    cleanup = "deleted" if report.branch_deleted else f"NOT deleted: {report.cleanup_error}"
    lines.append(f"  cleanup       branch {cleanup}")
    lines.append(f"restore drill {'passed' if report.passed else 'FAILED'} in {report.total_seconds:.2f}s")
    return "\n".join(lines)
