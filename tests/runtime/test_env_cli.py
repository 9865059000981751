from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import constants
from runtime.env import MAX_ENV_FILE_BYTES, EnvFileError, read_env_file
from tests.hypothesis_profiles import examples

ROOT = Path(__file__).parents[2]
DB_PASSWORD = "cli-pw-never-print-77"
VALID_PRODUCTION_REST = (
    "APP_SECRET=q7Vt1Rk9Lm3Xz5Bw8Nc2Hd6Fj4Gs0PaEzz\n"
    "SENTRY_DSN=https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42\n"
)


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


# --- adversarial inputs (issue 11) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://app:{DB_PASSWORD}%2F@localhost:5432/app",
        f"postgresql://app:{DB_PASSWORD};x@localhost/app",
        f"postgresql://app:{DB_PASSWORD}@:5432/app",
        f"postgresql://app:{DB_PASSWORD}@,db.example.com/app",
        f"postgresql://app:{DB_PASSWORD}@db.example.com/app?host=",
        f"postgresql://app:{DB_PASSWORD}@\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/app",
    ],
)
def test_a_planted_local_database_url_fails_the_production_check(tmp_path: Path, url: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DATABASE_URL={url}\n{VALID_PRODUCTION_REST}", encoding="utf-8")
    result = run_check("--stage", "production", env_file=env_file)
    assert result.returncode == 1, result.stdout
    errors = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("error:")]
    assert errors == [
        "error: DATABASE_URL: points at the local machine — use the stage's real host (Neon / Sentry)"
    ]
    assert DB_PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_sentry_dsn_whose_key_holds_a_semicolon_is_read_as_sentry_sdk_does(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"{VALID_PRODUCTION_REST}SENTRY_DSN=https://{'a' * 32};x@127.0.0.1:9000/42\n")
    result = run_check("--stage", "production", env_file=env_file)
    assert result.returncode == 1
    assert "error: SENTRY_DSN: points at the local machine" in result.stdout
    clean = tmp_path / "clean.env"
    clean.write_text(
        f"DATABASE_URL=postgresql://app:pw@ep-x-pooler.eu-central-1.aws.neon.tech/app\n{VALID_PRODUCTION_REST}"
    )
    assert run_check("--stage", "production", env_file=clean).returncode == 0


def test_values_are_read_literally_as_lambda_holds_them(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "HOST=localhost\nDATABASE_URL=postgresql://u:p@${HOST}/app\nB='$HOME'\nC=\"x${C}y\"\n"
    )
    assert read_env_file(env_file) == {
        "HOST": "localhost",
        "DATABASE_URL": "postgresql://u:p@${HOST}/app",
        "B": "$HOME",
        "C": "x${C}y",
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"GOOD=1\nthis is not a binding\n", "line(s) 2: not KEY=value"),
        (b"A=1\x00\n", "holds a NUL character"),
        (b"\xff\xfe\x00", "UnicodeDecodeError"),
        (b"A=" + b"a" * (MAX_ENV_FILE_BYTES + 1), "is larger than 4 MiB"),
    ],
)
def test_unreadable_env_files_are_usage_errors_naming_the_problem(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(content)
    result = run_check(env_file=env_file)
    assert result.returncode == 2
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(30)  # the quadratic expansion took 33 s on 40,000 lines; a linear read takes ~1 s
def test_a_large_env_file_is_checked_in_linear_time(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"VAR_{i}=value-{i}-${{VAR_{i - 1}}}\n" for i in range(40_000)))
    result = run_check(env_file=env_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(read_env_file(env_file)) == 40_000


@examples(300)
@given(st.lists(st.text(max_size=40), max_size=12))
def test_any_env_file_is_read_or_refused_clearly(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    env_file = tmp_path_factory.mktemp("env") / ".env"
    env_file.write_text("\n".join(lines), encoding="utf-8")
    try:
        values = read_env_file(env_file)
    except EnvFileError as error:
        values = {"(refused)": str(error)}
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in values.items())


@examples(200)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9_${}/:@.%+=-]{0,30}", fullmatch=True),
        max_size=8,
    )
)
def test_generated_bindings_come_back_exactly_as_written(
    tmp_path_factory: pytest.TempPathFactory, bindings: dict[str, str]
) -> None:
    env_file = tmp_path_factory.mktemp("env") / ".env"
    env_file.write_text("".join(f"{key}='{value}'\n" for key, value in bindings.items()), encoding="utf-8")
    assert read_env_file(env_file) == bindings
