"""`./ballast migrate` (``python -m dbops migrate``): the URL from the stack output through the Pulumi CLI
(a stand-in ``pulumi`` on PATH), never printed; the pooler refused with exit 2; `./ballast local` migrates."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from dbops.__main__ import main
from localstage import LocalStage
from runtime.constants import DATABASE_URL_UNPOOLED
from tests.fixtures.fake_pulumi import fake_pulumi
from tests.runtime.test_localstage import STOP_TIMEOUT_SECONDS, run_localstage


@pytest.fixture
def database(services: LocalStage, scratch_database: Callable[[], str]) -> tuple[str, str]:
    name = scratch_database()
    return services.postgres.url(database=name), services.pgbouncer.url(database=name)


def test_migrate_a_stack_from_its_output(
    database: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    direct, _ = database
    log = tmp_path / "pulumi.log"
    fake_pulumi(tmp_path / "bin", {"migrationDatabaseUrl": direct, "stage": "staging"}, log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(
        DATABASE_URL_UNPOOLED, "postgresql://stray:stray@127.0.0.1:1/elsewhere"
    )  # loses to --stack

    assert main(["migrate", "--stack", "staging", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "dry run, 1 pending: 0001_items" in dry
    assert main(["migrate", "--stack", "staging"]) == 0
    done = capsys.readouterr().out
    assert "applied 0001_items" in done
    assert "at version 0001_items" in done
    assert main(["migrate", "--stack", "staging", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["applied"] == []
    assert report["already_applied"] == ["0001_items"]

    password = direct.split(":")[2].split("@")[0]
    assert password not in dry + done
    assert "stack output migrationDatabaseUrl --json --show-secrets --stack staging" in log.read_text()
    with psycopg.connect(direct) as conn:
        assert conn.execute("SELECT to_regclass('items') IS NOT NULL").fetchone() == (True,)


def test_migrate_refuses_the_pooler_with_exit_2(
    database: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    direct, pooled = database
    monkeypatch.setenv(DATABASE_URL_UNPOOLED, pooled)
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "refusing to migrate through a pooler" in err
    assert "Traceback" not in err
    assert pooled.split("@")[0] not in err
    with psycopg.connect(direct) as conn:
        assert conn.execute("SELECT to_regclass('items')").fetchone() == (None,)


def test_migrate_without_a_database_or_pulumi_is_a_clear_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(DATABASE_URL_UNPOOLED, raising=False)
    assert main(["migrate"]) == 2
    assert "pass --stack <name>" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    assert main(["migrate", "--stack", "staging"]) == 2
    assert "Pulumi CLI is not on PATH" in capsys.readouterr().err
    assert main(["migrate", "--stack", "Bad_Name"]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_failed_migration_exits_1(
    database: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    direct, _ = database
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001_bad.sql").write_text("SELECT * FROM nowhere;\n", encoding="utf-8")
    assert main(["migrate", "--database-url", direct, "--migrations-dir", str(tmp_path / "m")]) == 1
    assert "migration 0001_bad failed" in capsys.readouterr().err


def test_ballast_local_applies_the_migrations() -> None:
    process, _ports, workdir, output = run_localstage("--duration", "60")
    try:
        assert "localstage: migrated  0001_items" in output, output
        env = dict(
            line.split("=", 1) for line in (workdir / "ballast.env").read_text().splitlines() if "=" in line
        )
        with psycopg.connect(env["DATABASE_URL"], prepare_threshold=None) as conn:  # the app's pooled URL
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0
