"""Migrations on the real PostgreSQL: in order, once, atomically, under the advisory lock, refusing the
pooler; and two concurrent runs that never interleave."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from dbops.migrations import (
    LOCK_KEY,
    AdvisoryLockBackend,
    MigrationError,
    MigrationReport,
    applied_migration_ids,
    expected_version,
    fingerprint,
    migrate,
    migration_ids,
)
from dbops.pooler import PooledConnectionRefused
from localstage import LocalStage

REPO = Path(__file__).resolve().parents[2]


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {str(r[0]) for r in rows}


@pytest.fixture
def database(services: LocalStage, scratch_database: Callable[[], str]) -> str:
    return services.postgres.url(database=scratch_database())


TWO = {
    "0001_things.sql": "CREATE TABLE things (id int PRIMARY KEY);\nINSERT INTO things VALUES (1);\n",
    "0002_more.sql": "ALTER TABLE things ADD COLUMN label text;\nINSERT INTO things VALUES (2, 'b');\n",
}


def test_applies_in_order_once_and_dry_run_lists_pending(tmp_path: Path, database: str) -> None:
    directory = write(tmp_path / "m", TWO)
    dry = migrate(database, directory, dry_run=True)
    assert dry.pending == ("0001_things", "0002_more")
    assert dry.applied == ()
    assert tables(database) == set()  # a dry run writes nothing, not even yoyo's bookkeeping

    first = migrate(database, directory)
    assert first.applied == ("0001_things", "0002_more")
    assert first.expected_version == "0002_more"
    assert migrate(database, directory, dry_run=True).pending == ()
    again = migrate(database, directory)
    assert again.applied == ()
    assert again.pending == ()
    assert again.already_applied == ("0001_things", "0002_more")
    with psycopg.connect(database) as conn:
        assert applied_migration_ids(conn) == ["0001_things", "0002_more"]
        assert conn.execute("SELECT count(*) FROM things").fetchone() == (2,)
        # No lock table and no lock left behind: the advisory lock went with the session.
        assert conn.execute("SELECT to_regclass('yoyo_lock')").fetchone() == (None,)
        held = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
            (LOCK_KEY & 0xFFFFFFFF,),
        ).fetchone()
        assert held == (0,)


def test_failed_migration_rolls_back_whole_and_can_be_rerun(tmp_path: Path, database: str) -> None:
    directory = write(
        tmp_path / "m",
        {
            "0001_things.sql": TWO["0001_things.sql"],
            "0002_broken.sql": "CREATE TABLE half (id int);\nINSERT INTO missing_table VALUES (1);\n",
        },
    )
    with pytest.raises(
        MigrationError, match=r"0002_broken failed.*applied before it in this run: 0001_things"
    ):
        migrate(database, directory)
    assert "half" not in tables(database)  # the statements and the mark are one transaction
    with psycopg.connect(database) as conn:
        assert applied_migration_ids(conn) == ["0001_things"]
    (directory / "0002_broken.sql").write_text("CREATE TABLE half (id int);\n", encoding="utf-8")
    assert migrate(database, directory).applied == ("0002_broken",)


def test_pooled_url_is_refused_before_anything_runs(
    tmp_path: Path, services: LocalStage, scratch_database: Callable[[], str]
) -> None:
    name = scratch_database()
    directory = write(tmp_path / "m", TWO)
    with pytest.raises(PooledConnectionRefused, match="PgBouncer"):
        migrate(services.pgbouncer.url(database=name), directory)
    assert tables(services.postgres.url(database=name)) == set()


def test_two_concurrent_runs_never_interleave(tmp_path: Path, database: str) -> None:
    # The first migration holds its transaction long enough for the second run to arrive meanwhile.
    directory = write(
        tmp_path / "m",
        {
            "0001_slow.sql": "CREATE TABLE slow (id int PRIMARY KEY);\nSELECT pg_sleep(1.0);\n"
            "INSERT INTO slow VALUES (1);\n",
            "0002_after.sql": "INSERT INTO slow VALUES (2);\n",
        },
    )
    start = threading.Barrier(2, timeout=10)
    reports: list[MigrationReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            reports.append(migrate(database, directory, lock_timeout_seconds=30))
        except BaseException as error:  # collected, asserted below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(len(r.applied) for r in reports) == [0, 2]  # one run did it all, the other nothing
    waited = next(r for r in reports if not r.applied)
    assert waited.lock_wait_seconds >= 0.5  # it waited for the first run's lock
    assert waited.already_applied == ("0001_slow", "0002_after")
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT array_agg(id ORDER BY id) FROM slow").fetchone() == ([1, 2],)
        assert applied_migration_ids(conn) == ["0001_slow", "0002_after"]


def test_lock_wait_is_bounded(tmp_path: Path, database: str) -> None:
    directory = write(tmp_path / "m", TWO)
    with psycopg.connect(database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        with pytest.raises(MigrationError, match="held the lock"):
            migrate(database, directory, lock_timeout_seconds=0.3)
    assert "things" not in tables(database)


def test_bad_url_and_missing_directory_are_clear(tmp_path: Path, database: str) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        migrate(database, tmp_path / "nowhere")
    with pytest.raises(MigrationError, match=r"postgresql://.*not shown"):
        migrate("mysql://u:hunter2@h/db", write(tmp_path / "m", TWO))


def test_the_example_app_schema_comes_from_migrations(tmp_path: Path, database: str) -> None:
    directory = REPO / "app" / "migrations"
    assert migration_ids(directory)[0] == "0001_items"
    assert expected_version(directory) == migration_ids(directory)[-1]
    assert len(fingerprint(directory)) == 64
    migrate(database, directory)
    assert "items" in tables(database)


def test_a_migration_and_its_mark_commit_together(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recording the migration fails after its statements ran (a crash between the two): nothing stays,
    # so the next run applies it again instead of failing on a table that exists but is not recorded.
    directory = write(tmp_path / "m", {"0001_things.sql": TWO["0001_things.sql"]})

    def crash(*_args: object, **_kwargs: object) -> None:
        raise psycopg.OperationalError("connection lost while recording")

    monkeypatch.setattr(AdvisoryLockBackend, "mark_one", crash)
    with pytest.raises(MigrationError, match="0001_things failed"):
        migrate(database, directory)
    assert "things" not in tables(database)
    monkeypatch.undo()
    assert migrate(database, directory).applied == ("0001_things",)


def test_a_non_transactional_migration_runs_outside_a_transaction(tmp_path: Path, database: str) -> None:
    directory = write(
        tmp_path / "m",
        {
            "0001_things.sql": TWO["0001_things.sql"],
            "0002_index.sql": "-- transactional: false\n"
            "CREATE INDEX CONCURRENTLY things_id ON things (id);\n",
        },
    )
    assert migrate(database, directory).applied == ("0001_things", "0002_index")
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT to_regclass('things_id') IS NOT NULL").fetchone() == (True,)
