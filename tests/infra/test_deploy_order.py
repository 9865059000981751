"""The deploy order, with the real migrations provider on the real PostgreSQL: the whole program runs under
Pulumi's mocks, except that the ``SchemaMigrations`` registration runs ``SchemaMigrationsProvider.create``
for real against a scratch database. Migrations apply before the function is registered; a failed migration
means the function is never registered (its environment waits for an output that never comes), so the old
code keeps serving. Also the provider's diff: what makes a ``pulumi up`` migrate again."""

from __future__ import annotations

import asyncio
import gc
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pulumi
import pytest

from dbops.migrations import fingerprint
from infra.plan.mocks import RecordingMocks
from infra.providers import migrations as provider_module
from infra.providers.migrations import MigrationsChanged, SchemaMigrationsProvider, database_identity
from infra.providers.props import UNKNOWN
from localstage import LocalStage
from runtime import constants
from tests.infra.program_harness import run_program, unwrapped

REPO = Path(__file__).resolve().parents[2]
FUNCTION = "aws:lambda/function:Function"
MIGRATIONS = "pulumi-python:dynamic/ballast:SchemaMigrations"


@dataclass
class RealMigrations(RecordingMocks):
    """Answers ``SchemaMigrations`` by running the real provider against ``database_url``."""

    database_url: str = ""
    order: list[str] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == MIGRATIONS:
            props = {**unwrapped(dict(args.inputs)), "database_url": self.database_url}
            props.pop("__provider", None)
            result = SchemaMigrationsProvider().create(props)  # raises when a migration fails
            self.order.append(args.typ)
            return str(result.id), dict(result.outs or {})
        self.order.append(args.typ)
        return super().new_resource(args)


def _collect_abandoned_futures() -> None:
    """The SDK leaves the failed registration's futures unawaited; retrieve their exception (the one
    asserted above) so asyncio does not log "exception was never retrieved" for each when they are freed."""
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.Future) and obj.done() and not obj.cancelled():
            obj.exception()


@pytest.fixture
def repo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The provider's repository root pointed at a copy of the migrations we can break."""
    shutil.copytree(REPO / "app" / "migrations", tmp_path / "app" / "migrations")
    monkeypatch.setattr(provider_module, "REPO_ROOT", tmp_path)
    return tmp_path


@pytest.fixture
def database(services: LocalStage, scratch_database: Callable[[], str]) -> str:
    return services.postgres.url(database=scratch_database())


def test_migrations_apply_before_the_function_is_registered(repo_copy: Path, database: str) -> None:
    mocks = RealMigrations(stack="staging", database_url=database)
    run = run_program("staging", mocks=mocks)

    functions_at = [index for index, typ in enumerate(mocks.order) if typ == FUNCTION]
    assert len(functions_at) == len(run.of_type(FUNCTION)) == 4  # every declared function (the example app)
    assert mocks.order.index(MIGRATIONS) < min(functions_at)
    for function in run.of_type(FUNCTION):
        variables = unwrapped(function.inputs["environment"])["variables"]
        assert variables[constants.BALLAST_SCHEMA_VERSION] == "0001_items"
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT to_regclass('items') IS NOT NULL").fetchone() == (True,)


def test_a_failed_migration_stops_the_deploy_before_the_function(repo_copy: Path, database: str) -> None:
    broken = repo_copy / "app" / "migrations" / "0002_broken.sql"
    broken.write_text("ALTER TABLE no_such_table ADD COLUMN x int;\n", encoding="utf-8")
    mocks = RealMigrations(stack="staging", database_url=database)

    with pytest.raises(Exception, match="0002_broken failed"):
        run_program("staging", mocks=mocks)
    _collect_abandoned_futures()

    assert MIGRATIONS not in mocks.order  # its create failed
    assert FUNCTION not in mocks.order  # so the function was never sent to the engine
    with psycopg.connect(database) as conn:
        # 0001 applied and recorded; 0002 rolled back; a fixed file applies on the next `pulumi up`.
        rows = conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()
        assert rows == [("0001_items",)]


def test_the_provider_refuses_files_changed_since_the_plan(repo_copy: Path, database: str) -> None:
    directory = repo_copy / "app" / "migrations"
    props = {
        "database_url": database,
        "migrations_dir": "app/migrations",
        "fingerprint": fingerprint(directory),
    }
    (directory / "0002_late.sql").write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(MigrationsChanged, match="changed after the program read them"):
        SchemaMigrationsProvider().create(props)


def test_a_pooled_url_fails_the_migration_resource(
    repo_copy: Path, services: LocalStage, scratch_database: Callable[[], str]
) -> None:
    pooled = services.pgbouncer.url(database=scratch_database())
    props = {
        "database_url": pooled,
        "migrations_dir": "app/migrations",
        "fingerprint": fingerprint(repo_copy / "app" / "migrations"),
    }
    with pytest.raises(Exception, match="pooler"):
        SchemaMigrationsProvider().create(props)


def test_what_makes_an_update_migrate_again() -> None:
    provider = SchemaMigrationsProvider()
    url = "postgresql://app:old@ep-a.eu-central-1.aws.neon.tech/ballast"
    olds = {
        "migrations_dir": "app/migrations",
        "fingerprint": "f1",
        "version": "0001",
        "database": database_identity(url),
    }
    news = {"database_url": url, "migrations_dir": "app/migrations", "fingerprint": "f1", "version": "0001"}

    assert provider.diff("id", olds, news).changes is False
    rotated = url.replace(":old@", ":new@")  # a new password: same database, nothing to do
    assert provider.diff("id", olds, {**news, "database_url": rotated}).changes is False
    assert provider.diff("id", olds, {**news, "fingerprint": "f2", "version": "0002"}).changes is True
    moved = url.replace("ep-a", "ep-b")  # a replaced branch: migrate the new database
    assert provider.diff("id", olds, {**news, "database_url": moved}).changes is True
    assert provider.diff("id", olds, {**news, "database_url": UNKNOWN}).changes is True
    assert "old" not in str(provider.read("id", {**olds, "applied": []}).outs)
