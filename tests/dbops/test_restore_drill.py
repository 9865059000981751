"""The restore drill end to end: the API half against the fake Neon held to the published spec, the data
half against a real PostgreSQL copy of the stage's database (``PointInTimeNeon``)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from dbops.__main__ import main
from dbops.migrations import migrate
from dbops.restore import DRILL_BRANCH_PREFIX, RestoreRefused, restore_point, window_problem
from infra.providers.http import ApiError
from infra.providers.neon_client import neon_client
from localstage import LocalStage
from runtime.constants import NEON_API_KEY
from tests.fixtures.fake_api import FAST_RETRY
from tests.fixtures.fake_neon import FAST_POLL, TEST_API_KEY
from tests.fixtures.fake_neon_pitr import PointInTimeNeon
from tests.fixtures.fake_pulumi import fake_pulumi

REPO = Path(__file__).resolve().parents[2]
STACK = "drill"
ROWS = 3


@dataclass
class DrillStage:
    neon: PointInTimeNeon
    branch_id: str
    project_dir: Path
    source_url: str

    def run(self, *extra: str) -> int:
        argv = ["drill", "restore", "--stack", STACK, "--project-id", self.neon.project_id]
        return main([*argv, "--branch-id", self.branch_id, *extra], project_dir=self.project_dir)

    def configure(self, restore_drill: dict[str, object]) -> None:
        stack_file = {
            "config": {"ballast:neonApiBaseUrl": self.neon.base_url, "ballast:restoreDrill": restore_drill}
        }
        (self.project_dir / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack_file), encoding="utf-8")

    def drill_branches(self) -> list[str]:
        return [b.name for b in self.neon.branches.values() if b.name.startswith(DRILL_BRANCH_PREFIX)]


@pytest.fixture
def drill_stage(
    services: LocalStage,
    scratch_database: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[DrillStage]:
    # The stage's database: migrated by the real migrations, holding ROWS items an hour old.
    source = scratch_database()
    source_url = services.postgres.url(database=source)
    migrate(source_url, REPO / "app" / "migrations")
    with psycopg.connect(source_url) as conn:
        for n in range(ROWS):
            conn.execute(
                "INSERT INTO items (name, created_at) VALUES (%s, now() - interval '1 hour')", (f"item {n}",)
            )
    # A project directory like the repository's: Pulumi.yaml, the migrations, and the drill's stack file.
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(REPO / "app" / "migrations", tmp_path / "app" / "migrations")
    monkeypatch.setenv(NEON_API_KEY, TEST_API_KEY)
    with PointInTimeNeon(
        api_key=TEST_API_KEY, postgres=services.postgres, pgbouncer=services.pgbouncer
    ) as neon:
        branch = neon.add_stage_branch(
            f"ballast-{STACK}",
            real_database=source,
            role="ballast_app",
            database="ballast",
            age=timedelta(days=2),
        )
        stage = DrillStage(neon, branch.id, tmp_path, source_url)
        stage.configure(
            {
                "tables": {"items": ROWS},
                "checks": ["SELECT count(*) = 3 FROM items", "SELECT max(created_at) < now() FROM items"],
                "freshnessColumn": "items.created_at",
            }
        )
        try:
            yield stage
        finally:
            neon.drop_copies()
        assert not neon.violations, neon.violations  # every request and reply held to the published spec


def test_drill_passes_on_a_real_copy_and_deletes_it(
    drill_stage: DrillStage, capsys: pytest.CaptureFixture[str]
) -> None:
    code = drill_stage.run("--minutes-ago", "5", "--json")
    out = capsys.readouterr().out
    report = json.loads(out)

    assert code == 0, out
    assert report["passed"] is True
    assert [c["name"] for c in report["checks"]] == ["migrations", "table items", "check 1", "check 2"]
    assert all(c["passed"] for c in report["checks"])
    assert "at 0001_items" in report["checks"][0]["detail"]
    assert report["checks"][1]["detail"].startswith(f"{ROWS} rows")
    assert 0 < report["time_to_usable_seconds"] < 60
    assert report["branch_ready_seconds"] <= report["time_to_usable_seconds"]
    assert 299 <= report["data_age_seconds"] <= 330
    # The rows are an hour old; the restore point five minutes ago: about 55 minutes between them.
    assert 3000 < report["newest_row_age_at_restore_point_seconds"] < 3400
    assert report["branch_deleted"] is True
    # The API half: the branch was asked for at that point in time, off the stage's branch.
    create = next(r for r in drill_stage.neon.requests if r.method == "POST" and r.path.endswith("/branches"))
    assert create.body["branch"]["parent_id"] == drill_stage.branch_id
    assert create.body["branch"]["parent_timestamp"] == report["restore_point"]
    assert "expires_at" in create.body["branch"]
    # The data half was real, and is gone.
    assert drill_stage.neon.copies_made
    assert drill_stage.neon.existing_copies() == []
    assert drill_stage.drill_branches() == []
    assert TEST_API_KEY not in out


def test_the_drill_finds_the_stage_in_its_stack_outputs(
    drill_stage: DrillStage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = {"neonProjectId": drill_stage.neon.project_id, "neonBranchId": drill_stage.branch_id}
    fake_pulumi(tmp_path / "bin", outputs, tmp_path / "pulumi.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    code = main(
        ["drill", "restore", "--stack", STACK, "--minutes-ago", "1"], project_dir=drill_stage.project_dir
    )

    assert code == 0, capsys.readouterr()
    assert "stack output --json --stack drill" in (tmp_path / "pulumi.log").read_text()
    assert "--show-secrets" not in (tmp_path / "pulumi.log").read_text()  # the drill needs no secret output


def test_a_failed_check_still_deletes_the_branch(
    drill_stage: DrillStage, capsys: pytest.CaptureFixture[str]
) -> None:
    drill_stage.configure({"tables": {"items": 100, "missing_table": 0}, "checks": ["SELECT false"]})
    code = drill_stage.run("--at", (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    out = capsys.readouterr().out

    assert code == 1
    assert "FAIL  table items: 3 rows, fewer than the 100" in out
    assert "FAIL  table missing_table: missing from the copy" in out
    assert "FAIL  check 1: did not return true" in out
    assert "ok    migrations" in out
    assert "branch deleted" in out
    assert "restore drill FAILED" in out
    assert drill_stage.drill_branches() == []
    assert drill_stage.neon.existing_copies() == []


def test_a_failure_half_way_still_deletes_the_branch(
    drill_stage: DrillStage, capsys: pytest.CaptureFixture[str]
) -> None:
    drill_stage.neon.fail_operations("start_compute")  # the drill branch's compute never comes up
    code = drill_stage.run("--json")
    report = json.loads(capsys.readouterr().out)

    assert code == 1
    assert "start_compute" in report["error"]
    assert report["checks"] == []
    assert report["branch_deleted"] is True
    assert drill_stage.drill_branches() == []
    assert drill_stage.neon.existing_copies() == []


def test_a_time_outside_the_history_window_is_refused(
    drill_stage: DrillStage, capsys: pytest.CaptureFixture[str]
) -> None:
    code = drill_stage.run("--minutes-ago", str(25 * 60))
    err = capsys.readouterr().err

    assert code == 2
    assert "outside the project's history window of 1 day(s)" in err
    assert "Traceback" not in err
    assert not [r for r in drill_stage.neon.requests if r.method == "POST"]  # nothing was created
    assert drill_stage.run("--at", "2999-01-01T00:00:00Z") == 2
    assert "in the future" in capsys.readouterr().err


def test_the_fake_refuses_a_point_in_time_neon_would_refuse(drill_stage: DrillStage) -> None:
    neon = neon_client(
        base_url=drill_stage.neon.base_url, api_key=TEST_API_KEY, retry=FAST_RETRY, poll=FAST_POLL
    )
    old = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with neon, pytest.raises(ApiError, match="history retention"):
        neon.create_branch(
            drill_stage.neon.project_id,
            {"branch": {"parent_id": drill_stage.branch_id, "parent_timestamp": old}},
        )


def test_restore_point_and_window_rules() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert restore_point(None, None, now=now) == now - timedelta(minutes=15)
    assert restore_point("2026-12-01T13:00:00+01:00", None) == now
    for bad in ("yesterday", "2026-12-01T12:00:00"):
        with pytest.raises(RestoreRefused):
            restore_point(bad, None)
    with pytest.raises(RestoreRefused):
        restore_point(None, -1)
    day = 86400
    assert (
        window_problem(now - timedelta(hours=23), now=now, history_seconds=day, branch_created=None) is None
    )
    assert "oldest restorable time is 2026-11-30T12:00:00Z" in str(
        window_problem(now - timedelta(hours=25), now=now, history_seconds=day, branch_created=None)
    )
    created = now - timedelta(hours=1)
    assert "before the stage's branch" in str(
        window_problem(now - timedelta(hours=2), now=now, history_seconds=day, branch_created=created)
    )
