from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runtime import constants

ROOT = Path(__file__).parents[2]
DB_PASSWORD = "cli-pw-never-print-77"


def run_check(*args: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in _RUNTIME_VARIABLES}
    command = [sys.executable, "-m", "runtime.env", "check", *args]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


_RUNTIME_VARIABLES = {
    value for key, value in vars(constants).items() if key.isupper() and isinstance(value, str)
}


def test_the_example_env_is_valid_for_development() -> None:
    result = run_check(env_file=ROOT / ".env.example")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: SENTRY_DSN" in result.stdout


def test_production_check_fails_with_one_line_per_problem_and_no_value(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"DATABASE_URL=postgresql://app:{DB_PASSWORD}@localhost/app\nAPP_SECRET=tiny\nDB_POOL_MAX_SIZE=99\n"
    )
    result = run_check("--stage", "production", env_file=env_file)
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if line.strip().startswith("error:")]
    assert [line.split(":")[1].strip() for line in errors] == [
        "DB_POOL_MAX_SIZE",
        "DATABASE_URL",
        "APP_SECRET",
        "SENTRY_DSN",
    ]
    assert DB_PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_env_file_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    result = run_check(env_file=tmp_path / "absent.env")
    assert result.returncode == 2
    assert "absent.env" in result.stderr
    assert "Traceback" not in result.stderr
