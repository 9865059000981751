"""Schema migrations: SQL files applied in order, once, over the direct URL, one run at a time.

The library is yoyo-migrations (SQL files, one transaction per migration, applied ids recorded in the
database, psycopg 3 backend). Ballast adds three things around it:

- **direct URL only**: a pooled connection is refused before anything runs (``dbops.pooler``);
- **one run at a time**: a session-level ``pg_advisory_lock`` on yoyo's own connection replaces yoyo's lock
  *table*, whose row a killed run leaves behind (``yoyo break-lock``); an advisory lock dies with its
  session. The wait is bounded (``lock_timeout``). The pending list is read under the lock, so a second run
  that waited finds nothing left to do;
- **applied and recorded together**: a transactional migration's statements and the row that marks it
  applied commit in one transaction (yoyo commits them separately), so a run killed half-way can always be
  run again. A file headed ``-- transactional: false`` (e.g. ``CREATE INDEX CONCURRENTLY``) runs as yoyo
  runs it.

Migration ids are file names without ``.sql`` (``0001_items``); they apply in name order unless a file
declares ``-- depends: …``. The expected version of a database is the last id in the directory.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

import psycopg
from psycopg import sql
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from dbops.pooler import PooledConnectionRefused, refuse_pooled

MIGRATION_TABLE: Final = "_yoyo_migration"
# yoyo's bookkeeping tables (not the app's): the drill's table checks leave them out.
BOOKKEEPING_TABLES: Final = frozenset({MIGRATION_TABLE, "_yoyo_log", "_yoyo_version", "yoyo_lock"})
# pg_advisory_lock key for migration runs: "ballast" in ASCII, so it is recognisable in pg_locks.
LOCK_KEY: Final = int.from_bytes(b"ballast", "big")
DEFAULT_LOCK_TIMEOUT_SECONDS: Final = 300.0
CONNECT_TIMEOUT_SECONDS: Final = 10
YOYO_SCHEME: Final = "postgresql+psycopg"


class MigrationError(Exception):
    """A migration run could not start or a migration failed; the text names which, never the URL."""


@dataclass(frozen=True)
class MigrationReport:
    """What a run found and did. ``applied`` are the ids applied by this run (none on a dry run)."""

    already_applied: tuple[str, ...]
    pending: tuple[str, ...]
    applied: tuple[str, ...]
    expected_version: str | None
    dry_run: bool
    lock_wait_seconds: float
    seconds: float


def migration_ids(directory: Path) -> list[str]:
    """The migrations in ``directory``, in the order they apply."""
    migrations = _read(directory)
    return [m.id for m in migrations]


def expected_version(directory: Path) -> str | None:
    """The id of the last migration in ``directory`` (what a migrated database is at)."""
    ids = migration_ids(directory)
    return ids[-1] if ids else None


def fingerprint(directory: Path) -> str:
    """SHA-256 over every migration file's name and content (changes when any migration does)."""
    digest = hashlib.sha256()
    for path in sorted(_migration_files(directory)):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def migrate(
    url: str,
    directory: Path,
    *,
    dry_run: bool = False,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> MigrationReport:
    """Apply the pending migrations of ``directory`` to the database at ``url`` (a direct URL).

    Raises :class:`PooledConnectionRefused` for a pooled URL and :class:`MigrationError` when the lock is
    not had in time or a migration fails (that migration is rolled back; earlier ones stay applied).
    """
    started = time.monotonic()
    migrations = _read(directory)
    ids = [m.id for m in migrations]
    backend = _connect(url)
    try:
        refuse_pooled(backend.connection, url)
        wait_started = time.monotonic()
        with backend.lock(timeout=lock_timeout_seconds):
            lock_wait = time.monotonic() - wait_started
            applied: list[str] = []
            if dry_run:  # read only: not even yoyo's bookkeeping tables are created
                recorded = set(applied_migration_ids(backend.connection))
                pending_ids = tuple(i for i in ids if i not in recorded)
            else:
                backend.init_database()
                pending = backend.to_apply(migrations)
                pending_ids = tuple(m.id for m in pending)
                for migration in pending:
                    try:
                        backend.apply_one(migration)
                    except psycopg.Error as error:
                        raise MigrationError(
                            f"migration {migration.id} failed and was rolled back "
                            f"({type(error).__name__}: {_first_line(error)}); "
                            f"applied before it in this run: {', '.join(applied) or 'none'}"
                        ) from None
                    applied.append(migration.id)
            already = tuple(i for i in ids if i not in pending_ids)
    finally:
        backend.connection.close()
    return MigrationReport(
        already_applied=already,
        pending=pending_ids,
        applied=tuple(applied),
        expected_version=ids[-1] if ids else None,
        dry_run=dry_run,
        lock_wait_seconds=lock_wait,
        seconds=time.monotonic() - started,
    )


def applied_migration_ids(conn: psycopg.Connection[Any]) -> list[str]:
    """The ids recorded as applied in the database behind ``conn``, oldest first ([] before any run)."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATION_TABLE,)).fetchone()
    if not exists or not exists[0]:
        return []
    query = sql.SQL("SELECT migration_id FROM {} ORDER BY applied_at_utc, migration_id").format(
        sql.Identifier(MIGRATION_TABLE)
    )
    return [str(row[0]) for row in conn.execute(query).fetchall()]


# yoyo, with an advisory lock and atomic marking ---------------------------------------------------------


class AdvisoryLockBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
    """yoyo's psycopg 3 backend with a session advisory lock instead of its lock table."""

    _is_locked: bool = False

    def create_lock_table(self) -> None:
        return  # no lock table: the advisory lock needs none

    @contextmanager
    def lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        if self._is_locked:  # yoyo takes the lock again internally while we hold it
            yield
            return
        self.execute("SELECT set_config('lock_timeout', :timeout, false)", {"timeout": f"{timeout}s"})
        try:
            self.execute("SELECT pg_advisory_lock(:key)", {"key": LOCK_KEY})
        except psycopg.errors.LockNotAvailable:
            raise MigrationError(
                f"another migration run held the lock for more than {timeout:g}s; try again when it ends"
            ) from None
        finally:
            self.execute("SELECT set_config('lock_timeout', '0', false)")
        self._is_locked = True
        try:
            yield
        finally:
            self._is_locked = False
            if not self.connection.closed:
                self.execute("SELECT pg_advisory_unlock(:key)", {"key": LOCK_KEY})

    def apply_one(self, migration: Any, force: bool = False, mark: bool = True) -> None:
        migration.load()
        if not (migration.use_transactions and self.has_transactional_ddl):
            super().apply_one(migration, force=force, mark=mark)
            return
        self.ensure_internal_schema_updated()
        with self.transaction():  # the steps become savepoints inside this one transaction
            migration.process_steps(self, "apply", force=force)
            self.log_migration(migration, "apply")
            if mark:
                self.mark_one(migration, log=False)


def _connect(url: str) -> AdvisoryLockBackend:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise MigrationError("the database URL must start with postgresql:// (the value is not shown)")
    parsed = parse_uri(f"{YOYO_SCHEME}://{rest}")
    args = {"connect_timeout": str(CONNECT_TIMEOUT_SECONDS), **parsed.args}
    database = unquote(parsed.database) if parsed.database else parsed.database  # yoyo leaves it quoted
    try:
        return AdvisoryLockBackend(parsed._replace(args=args, database=database), MIGRATION_TABLE)
    except psycopg.Error as error:
        raise MigrationError(
            f"cannot connect to the database ({type(error).__name__}: {_first_line(error)})"
        ) from None


def _migration_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    return [p for p in directory.iterdir() if p.suffix == ".sql" and not p.name.endswith(".rollback.sql")]


def _read(directory: Path) -> Any:
    _migration_files(directory)  # a missing directory is an error, not "no migrations"
    return read_migrations(str(directory))


def _first_line(error: Exception) -> str:
    from runtime.scrub import scrub_text  # a server message may quote a connection string

    text = str(error).strip().splitlines()
    return scrub_text(text[0])[:300] if text else "no message"


__all__ = [
    "BOOKKEEPING_TABLES",
    "LOCK_KEY",
    "MigrationError",
    "MigrationReport",
    "PooledConnectionRefused",
    "applied_migration_ids",
    "expected_version",
    "fingerprint",
    "migrate",
    "migration_ids",
]
