"""``python -m infra plan`` end to end, in a subprocess as a developer or CI runs it, against copies of the
project's stack files in a temporary project directory.

- staging, production and a preview stack (no file: the preview profile) plan clean: exit 0;
- a loopback URL planted in ``ballast:environment`` of production makes the plan exit 1, naming the function
  and the property path — and the planted value (with its password) appears nowhere in the output;
- the same planted value in staging passes (exit 0), unless policy config names staging a production stack;
- unreadable stack or policy config exits 2 with a message naming the file, never a secret.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.policy import rules
from tests.fixtures.plan_cli import run_plan

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml")
PLANTED_PASSWORD = "planted-Secret-Zq81x"
PLANTED_URL = f"http://hook-user:{PLANTED_PASSWORD}@localhost:8080/notify"
PLANTED_KEY = "WEBHOOK_URL"
ENVIRONMENT_KEY = "ballast:environment"
PLAN_TIMEOUT_SECONDS = 180
STACK_TYPE = "pulumi:pulumi:Stack"
HISTORY_KEY = "ballast:neonHistoryRetentionSeconds"
SENTRY_TYPES = ("pulumi-python:dynamic/sentry:Project", rules.SENTRY_KEY_TYPE)


def project_copy(tmp_path: Path, *, plant_in: str | None = None) -> Path:
    for name in STACK_FILES:
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    if plant_in is not None:
        path = tmp_path / f"Pulumi.{plant_in}.yaml"
        document = yaml.safe_load(path.read_text()) or {}
        config = document.setdefault("config", {})
        environment = config.get(ENVIRONMENT_KEY) or {}
        config[ENVIRONMENT_KEY] = {**environment, PLANTED_KEY: PLANTED_URL}
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp_path


def plan(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_plan("--cwd", str(project), *args, timeout=PLAN_TIMEOUT_SECONDS)


def plan_json(project: Path, stack: str, *args: str) -> tuple[int, dict[str, Any], str]:
    process = plan(project, "--stack", stack, "--json", *args)
    assert process.stdout.strip(), process.stderr
    return process.returncode, json.loads(process.stdout), process.stdout + process.stderr


@pytest.mark.parametrize("stack", ["staging", "production", "pr-7"])
def test_each_stage_plans_clean(tmp_path: Path, stack: str) -> None:
    code, data, output = plan_json(project_copy(tmp_path), stack)

    assert code == 0, output
    assert data["stack"] == stack
    assert data["exit_code"] == 0
    types = {r["type"] for r in data["resources"]}
    assert {rules.FUNCTION_TYPE, rules.LOG_GROUP_TYPE, rules.NEON_BRANCH_TYPE, rules.SENTRY_KEY_TYPE} <= types
    assert data["policies"]["violations"] == []  # the shipped stages meet the advisory rules too
    assert data["policies"]["evaluated"] == len(rules.RULES)
    expected_profile = {"staging": "staging", "production": "production", "pr-7": "preview"}[stack]
    assert data["settings"]["profile"] == expected_profile
    functions = {row["name"]: row for row in data["functions"]["functions"]}
    assert set(functions) == {"health", "items", "stats", "cleanup"}  # the example app, deployed everywhere
    assert 0 < data["functions"]["worstCase"] <= data["functions"]["budget"]
    assert all(row["reservedConcurrency"] >= 1 for row in functions.values())
    assert "GET /api/items/{id}" in functions["items"]["routes"]
    assert functions["cleanup"]["schedule"] == "rate(1 day)"
    lambdas = {r["inputs"]["name"]: r for r in data["resources"] if r["type"] == rules.FUNCTION_TYPE}
    assert set(lambdas) == {row["lambda"] for row in functions.values()}
    for row in functions.values():  # the summary is what the program declared
        assert lambdas[row["lambda"]]["inputs"]["reservedConcurrentExecutions"] == row["reservedConcurrency"]
    if stack == "pr-7":
        assert data["config_source"].startswith("preview profile")
        assert data["settings"]["ballast:previewExpiryDays"] >= 1
    assert data["settings"]["neonHistoryWindow"]  # every stage's history window, with where it is set
    [project] = [r for r in data["resources"] if r["type"] == rules.NEON_PROJECT_TYPE] or [None]
    if stack == "production":
        assert project is not None
        assert project["inputs"]["history_retention_seconds"] == data["settings"][HISTORY_KEY] >= 7 * 86400
    else:
        assert project is None  # staging and previews live in production's project
        assert HISTORY_KEY not in data["settings"]
        assert "stack production" in data["settings"]["neonHistoryWindow"]


@pytest.mark.parametrize("stack", ["staging", "production", "pr-7"])
def test_production_protects_every_resource_and_other_stages_none(tmp_path: Path, stack: str) -> None:
    """A production destroy stops before deleting anything; a preview's removes everything it made."""
    _, data, output = plan_json(project_copy(tmp_path), stack)
    declared = [r for r in data["resources"] if r["type"] != STACK_TYPE and not r["read"]]
    retained = {r["type"] for r in declared if r["retain_on_delete"]}

    assert len(declared) >= 19, output  # every resource and component of the stage
    if stack == "production":
        assert [r["name"] for r in declared if not r["protect"]] == []
        assert retained == {*rules.NEON_DATA_TYPES, *SENTRY_TYPES}  # what holds data stays on a teardown
    else:
        assert [r["name"] for r in declared if r["protect"] or r["retain_on_delete"]] == []
        [branch] = [r for r in declared if r["type"] == rules.NEON_BRANCH_TYPE]
        assert branch["inputs"]["adopt_default_branch"] is False  # its own branch: deleted, not released
    if stack == "pr-7":
        [secret] = [r for r in declared if r["type"] == "aws:secretsmanager/secret:Secret"]
        assert secret["inputs"]["recoveryWindowInDays"] == 0  # gone at once, the name free again


def test_text_plan_shows_the_tree_settings_and_verdict(tmp_path: Path) -> None:
    process = plan(project_copy(tmp_path), "--stack", "production")

    assert process.returncode == 0, process.stdout + process.stderr
    text = process.stdout
    assert "Ballast plan — stack production" in text
    assert "Stage settings" in text
    assert rules.FUNCTION_TYPE in text
    assert "Functions (database budget 94 connections" in text
    assert "route       POST /api/items (throttled 10.0/s, burst 20)" in text
    assert "log group   /aws/lambda/ballast-production-items" in text
    assert "Result: OK" in text


def test_a_planted_loopback_fails_production_naming_resource_and_path_never_the_value(tmp_path: Path) -> None:
    project = project_copy(tmp_path, plant_in="production")

    code, data, json_output = plan_json(project, "production")
    text_process = plan(project, "--stack", "production")

    assert code == 1, json_output
    assert text_process.returncode == 1
    violations = [v for v in data["policies"]["violations"] if v["policy"] == "no-localhost-in-production"]
    assert len(violations) == 4  # ballast:environment reaches every function of the example app
    for violation in violations:
        assert violation["enforcement_level"] == "mandatory"
        assert violation["resource_type"] == rules.FUNCTION_TYPE
        assert f"environment.variables.{PLANTED_KEY}" in violation["message"]
        assert f"'{violation['resource_name']}'" in violation["message"]
    text = text_process.stdout + text_process.stderr
    assert "[mandatory] no-localhost-in-production" in text
    assert f"environment.variables.{PLANTED_KEY}" in text
    for output in (json_output, text):
        assert PLANTED_URL not in output
        assert PLANTED_PASSWORD not in output
        assert "localhost:8080" not in output


def test_the_same_value_passes_in_staging_unless_policy_config_calls_staging_production(
    tmp_path: Path,
) -> None:
    project = project_copy(tmp_path, plant_in="staging")

    process = plan(project, "--stack", "staging")
    assert process.returncode == 0, process.stdout + process.stderr
    assert PLANTED_PASSWORD not in process.stdout + process.stderr

    policy_config = tmp_path / "policy-config.json"
    policy_config.write_text(json.dumps({"no-localhost-in-production": {"productionStacks": ["staging"]}}))
    strict = plan(project, "--stack", "staging", "--policy-pack-config", str(policy_config))
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert PLANTED_PASSWORD not in strict.stdout + strict.stderr


def test_config_errors_exit_2_naming_the_file(tmp_path: Path) -> None:
    project = project_copy(tmp_path)

    missing = plan(project, "--stack", "qa")
    assert missing.returncode == 2
    assert "Pulumi.qa.yaml: not found" in missing.stderr

    (project / "Pulumi.production.yaml").write_text("config: [unclosed\n")
    broken = plan(project, "--stack", "production")
    assert broken.returncode == 2
    assert "Pulumi.production.yaml: is not valid YAML" in broken.stderr

    bad_policy_config = tmp_path / "policy.json"
    bad_policy_config.write_text(json.dumps({"all": "strict"}))
    refused = plan(project, "--stack", "staging", "--policy-pack-config", str(bad_policy_config))
    assert refused.returncode == 2
    assert "all: enforcement level must be one of" in refused.stderr


def test_secure_values_are_placeholders_never_decrypted_or_printed(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    ciphertext = "v1:Zm9vYmFyLWNpcGhlcnRleHQtdGhhdC1tdXN0LW5ldmVyLWFwcGVhcg=="
    path = project / "Pulumi.staging.yaml"
    document = yaml.safe_load(path.read_text()) or {}
    document.setdefault("config", {})["ballast:neonApiKey"] = {"secure": ciphertext}
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    code, data, output = plan_json(project, "staging")

    assert code == 0, output
    assert data["settings"]["ballast:neonApiKey"] == "[secret]"
    assert ciphertext not in output


def test_an_invalid_stage_setting_exits_2_naming_the_key_before_anything_is_declared(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    path = project / "Pulumi.production.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["ballast:lambdaMemoryMb"] = 64
    document["config"]["ballast:lambdaMemoryMbs"] = 512
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    process = plan(project, "--stack", "production")

    assert process.returncode == 2
    assert process.stdout == ""
    assert "ballast:lambdaMemoryMb:" in process.stderr
    assert "did you mean ballast:lambdaMemoryMb?" in process.stderr
    assert "Traceback" not in process.stderr


def test_production_with_tracing_off_plans_clean(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    path = project / "Pulumi.production.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["ballast:sentryTracesSampleRate"] = 0
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    process = plan(project, "--stack", "production")

    assert process.returncode == 0, process.stdout[-600:]
