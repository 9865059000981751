"""Bad config fails before any resource is declared, with every problem listed (and no value echoed); and
``infra/__main__.py`` behaves as the Pulumi language host and the CLI need."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from typing import Any

import pulumi
import pytest

from infra.config import ConfigError
from tests.infra.program_harness import REPO_ROOT, committed_config, run_program

PLANTED = "planted-Secret-Qx71"
BAD = {
    "ballast:lambdaMemoryMb": "lots",
    "ballast:logRetentionDays": "8",
    "ballast:computeMinCu": "0.1",
    "ballast:neonApiKey": PLANTED,  # plain text: refused, never shown
    "ballast:environment": json.dumps({"DATABASE_URL": f"postgres://u:{PLANTED}@localhost/db"}),
}
BAD_KEYS = ("lambdaMemoryMb", "logRetentionDays", "computeMinCu", "neonApiKey", "environment")
SUBPROCESS_TIMEOUT_SECONDS = 180


def test_bad_config_lists_every_problem_and_declares_nothing() -> None:
    with pytest.raises(ConfigError) as caught:
        run_program("production", overrides=BAD)

    problems = caught.value.problems
    assert len(problems) == len(BAD_KEYS)
    for key in BAD_KEYS:
        assert any(p.startswith(f"ballast:{key}:") for p in problems), key
    assert PLANTED not in str(caught.value)


def test_nothing_is_declared_when_the_config_is_bad() -> None:
    from infra.plan.mocks import RecordingMocks
    from infra.stack import program

    mocks = RecordingMocks(stack="staging")
    pulumi.runtime.set_all_config({**committed_config("staging"), **BAD}, [])
    pulumi.runtime.set_mocks(mocks, project="ballast", stack="staging", preview=False)

    with pytest.raises(ConfigError):
        program()
    assert mocks.resources == []


def test_run_reports_one_pulumi_error_per_problem_then_a_run_error(caplog: pytest.LogCaptureFixture) -> None:
    from infra.plan.mocks import RecordingMocks
    from infra.stack import run

    logger = logging.getLogger("ballast-test-engine")
    pulumi.runtime.set_all_config({**committed_config("staging"), **BAD}, [])
    pulumi.runtime.set_mocks(
        RecordingMocks(stack="staging"), project="ballast", stack="staging", logger=logger
    )
    failure: list[BaseException] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def declare() -> None:
        try:
            run()
        except pulumi.RunError as error:
            failure.append(error)

    with caplog.at_level(logging.ERROR, logger=logger.name):
        declare()

    [error] = failure
    assert str(error) == "stack 'staging': 5 problem(s), listed above; nothing was changed"
    logged = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert len(logged) == len(BAD_KEYS)
    assert all(message.startswith("ballast:") for message in logged)
    assert not [m for m in logged if PLANTED in m]


LANGUAGE_HOST = textwrap.dedent(
    """
    # What pulumi-language-python-exec does with Pulumi.yaml's default main (the program directory, the
    # repository root, as working directory and entry point "."), the engine replaced by Pulumi's mocks.
    import json, logging, os, runpy, sys
    repo, stack, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
    sys.path.insert(0, repo)  # only to set up the mocks; removed again below
    import pulumi, pulumi.runtime
    import infra.build
    from infra.plan.mocks import RecordingMocks
    infra.build.build_layer = infra.build.planned_layer  # no pip here
    mocks = RecordingMocks(stack=stack)
    pulumi.runtime.set_all_config(config, [])
    engine_log = logging.getLogger("engine")
    pulumi.runtime.set_mocks(mocks, project="ballast", stack=stack, preview=False, logger=engine_log)
    sys.path.remove(repo)
    os.chdir(repo)
    try:
        pulumi.runtime.test(lambda: runpy.run_path(".", run_name="__main__"))()
    except pulumi.RunError as error:  # as pulumi-language-python-exec: log it, exit 1
        print(f"ERROR {error}", file=sys.stderr)
        sys.exit(1)
    import secrets
    print(json.dumps({"resources": len(mocks.resources), "secrets": secrets.__file__}))
    """
)


def language_host(stack: str, config: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LANGUAGE_HOST, str(REPO_ROOT), stack, json.dumps(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )


def test_the_language_host_runs_the_program_from_the_repository_root() -> None:
    completed = language_host("staging", committed_config("staging"))

    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["resources"] >= 20
    assert not result["secrets"].startswith(str(REPO_ROOT))  # the standard library's, not infra/secrets.py


def test_the_language_host_reports_bad_config_as_errors_without_a_traceback() -> None:
    completed = language_host("production", {**committed_config("production"), **BAD})

    assert completed.returncode == 1
    errors = [line for line in completed.stderr.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == len(BAD_KEYS) + 1
    assert errors[-1] == "ERROR stack 'production': 5 problem(s), listed above; nothing was changed"
    assert "Traceback" not in completed.stderr
    assert PLANTED not in completed.stdout + completed.stderr


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )


def test_python_m_infra_dispatches_plan_and_explains_itself_otherwise() -> None:
    usage = run_module("-m", "infra")
    plan_help = run_module("-m", "infra", "plan", "--help")
    direct = run_module(".")
    infra_dir = run_module("infra/")

    assert usage.returncode == 2
    assert "usage: python -m infra plan --stack <name>" in usage.stderr
    assert plan_help.returncode == 0, plan_help.stderr
    assert "--stack" in plan_help.stdout
    assert direct.returncode == 2
    assert "run it with `pulumi up --stack <name>`" in direct.stderr
    assert infra_dir.returncode == 2
    assert "run `python -m infra plan` from the repository root" in infra_dir.stderr
