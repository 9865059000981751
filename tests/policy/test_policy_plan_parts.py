"""The offline plan's parts on their own: reading stack files, recording registrations under Pulumi's mocks in
the analyzer's shape, and masking what is printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.output import Unknown
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from infra.plan.record import analyzer_view
from infra.plan.render import LOCAL_MACHINE, SECRET, masked
from infra.plan.run import run_program
from infra.plan.stackfiles import StackFileError, StackFiles, load_stack_files, placeholder
from infra.policy.evaluate import evaluate, reconcile_config
from infra.policy.pack import PACK_ENFORCEMENT_LEVEL, build_policies, initial_config
from tests.policy.support import PLANTED_SECRET, secret

CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQ="


def write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document))  # JSON is YAML


def test_stack_config_layers_project_defaults_namespaces_and_hides_secure_values(tmp_path: Path) -> None:
    write(
        tmp_path / "Pulumi.yaml",
        {
            "name": "ballast",
            "runtime": "python",
            "config": {
                "memoryMb": {"type": "integer", "default": 256},
                "aws:region": {"value": "eu-central-1"},
            },
        },
    )
    write(
        tmp_path / "Pulumi.production.yaml",
        {
            "config": {
                "ballast:memoryMb": 1024,
                "ballast:environment": {"FEATURE_X_ENABLED": "true", "TOKEN": {"secure": CIPHERTEXT}},
                "neonApiKey": {"secure": CIPHERTEXT},
                "ballast:protect": True,
            }
        },
    )

    files = load_stack_files(tmp_path, "production")

    assert files.project == "ballast"
    assert files.source == "Pulumi.production.yaml"
    assert files.config["ballast:memoryMb"] == "1024"
    assert files.config["aws:region"] == "eu-central-1"
    assert files.config["ballast:protect"] == "true"
    assert files.config["ballast:neonApiKey"] == placeholder("ballast:neonApiKey")
    environment = json.loads(files.config["ballast:environment"])
    assert environment == {"FEATURE_X_ENABLED": "true", "TOKEN": placeholder("ballast:environment")}
    assert files.secret_keys == {"ballast:neonApiKey", "ballast:environment"}
    assert all(CIPHERTEXT not in value for value in files.config.values())


def test_preview_stacks_without_a_file_get_the_preview_profile_others_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "Pulumi.yaml", {"name": "ballast", "runtime": "python"})

    preview = load_stack_files(tmp_path, "pr-42")
    assert preview.is_preview_profile
    assert preview.config == {}

    with pytest.raises(StackFileError, match=r"Pulumi\.qa\.yaml: not found"):
        load_stack_files(tmp_path, "qa")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("name: [oops", "Pulumi.yaml: is not valid YAML at line 1"),
        ("- a list", "Pulumi.yaml: must be a mapping at the top level"),
        ("runtime: python", "Pulumi.yaml: `name` is missing"),
    ],
)
def test_broken_project_files_are_named(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text(content)
    with pytest.raises(StackFileError) as raised:
        load_stack_files(tmp_path, "staging")
    assert raised.value.problems == [problem]


def test_the_analyzer_view_opens_secrets_keeps_their_paths_and_marks_unknowns() -> None:
    secret_paths: set[str] = set()
    view = analyzer_view(
        {"environment": secret({"variables": {"A": "1"}}), "role": Unknown(), "list": [secret("x"), "y"]},
        "",
        secret_paths,
    )
    assert view == {
        "environment": {"variables": {"A": "1"}},
        "role": UNKNOWN_STRING_VALUE,
        "list": ["x", "y"],
    }
    assert secret_paths == {"environment", "list[0]"}


def test_masking_withholds_secrets_loopback_values_and_credential_shapes() -> None:
    secrets = frozenset({"environment"})
    # A secret map keeps its keys (e.g. environment variable names); every value under it is withheld.
    assert masked({"variables": {"A": "1", "B": ["x"]}}, "environment", secrets) == {
        "variables": {"A": SECRET, "B": SECRET}
    }
    assert masked("1", "environment.variables.A", secrets) == SECRET
    assert masked("http://localhost:9000/x", "hook", frozenset()) == LOCAL_MACHINE
    shown = masked(f"postgresql://app:{PLANTED_SECRET}@db.example.com/app", "url", frozenset())
    assert PLANTED_SECRET not in shown
    assert masked({"__provider": "pickled", "n": 3}, "", frozenset()) == {"n": 3}
    assert masked(UNKNOWN_STRING_VALUE, "x", frozenset()) == "(known after deploy)"


class _Outputs(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, "arn": f"arn:aws:mock:::{args.name}"}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def clean_config() -> Any:
    yield
    pulumi.runtime.set_all_config({}, [])  # leave no stack config behind for other tests in this process


@pytest.mark.usefixtures("clean_config")
def test_the_recording_monitor_keeps_parent_protect_dependencies_and_secret_paths() -> None:
    def program() -> None:
        webhook = pulumi.Config().require_secret("webhook")
        logs = aws.cloudwatch.LogGroup("logs", retention_in_days=14)
        aws.lambda_.Function(
            "api",
            role="arn:aws:iam::123456789012:role/api",
            runtime="python3.12",
            handler="runtime.handler.handle",
            code=pulumi.AssetArchive({}),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={"WEBHOOK_URL": webhook, "LOG_LEVEL": "INFO"}
            ),
            opts=pulumi.ResourceOptions(protect=True, depends_on=[logs]),
        )

    files = StackFiles(
        project="ballast",
        stack="production",
        config={"ballast:webhook": "http://localhost:9000/hook"},
        secret_keys=frozenset({"ballast:webhook"}),
        source="test",
    )

    recorded = run_program(files, program, _Outputs())

    by_name = {r.name: r for r in recorded}
    function, logs = by_name["api"], by_name["logs"]
    assert function.type == "aws:lambda/function:Function"
    assert function.analyzed.protect
    assert not logs.analyzed.protect
    assert logs.urn in function.analyzed.dependencies
    assert function.analyzed.parent == by_name["ballast-production"].urn
    assert function.secret_paths == {"environment"}
    assert function.analyzed.inputs["environment"]["variables"]["WEBHOOK_URL"] == "http://localhost:9000/hook"

    policies = build_policies()
    settings = reconcile_config(policies, PACK_ENFORCEMENT_LEVEL, initial=initial_config())
    evaluation = evaluate(policies, settings, [r.analyzed for r in recorded], stack="production")
    [violation] = [v for v in evaluation.violations if v.policy == "no-localhost-in-production"]
    assert violation.resource_name == "api"
    assert "environment.variables.WEBHOOK_URL" in violation.message
    assert not [v for v in evaluation.violations if v.policy == "function-has-log-group"]
