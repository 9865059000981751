"""Where the engine looks, and what it starts: the program directory, the virtualenv, ``pulumi install``'s
requirements, the provider host loading old and new pickled providers, and the policy pack.

Each process is started the way the Pulumi CLI starts it (see :mod:`tests.engine.engine`); a clone of the
project (``conftest.clone_project``) stands in for a fresh checkout.
"""

from __future__ import annotations

import base64
import importlib
import json
import pickletools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.policy.pack import build_policies
from infra.providers.neon import (
    NeonBranchProvider,
    NeonConnectionProvider,
    NeonDatabaseProvider,
    NeonRoleProvider,
)
from infra.providers.neon_project import NeonProjectProvider
from infra.providers.sentry import SentryClientKeyProvider, SentryProjectProvider
from tests.engine.conftest import CREDENTIALS
from tests.engine.engine import (
    STARTUP_TIMEOUT_SECONDS,
    Project,
    child_env,
    provider_host,
    provider_launcher_command,
)
from tests.fixtures.analyzer import serve_policy_pack

DATA: Final = Path(__file__).resolve().parent / "data"
RECORDED: Final = json.loads((DATA / "providers-2d603d4.json").read_text(encoding="utf-8"))
PROVIDERS: Final = (
    NeonBranchProvider,
    NeonRoleProvider,
    NeonDatabaseProvider,
    NeonConnectionProvider,
    SentryProjectProvider,
    SentryClientKeyProvider,
    NeonProjectProvider,  # since 2d603d4
)
# Every class a pickled provider names (dill pickles them by reference): moving one breaks old stacks.
STABLE_PATHS: Final = frozenset(
    {f"{cls.__module__}.{cls.__qualname__}" for cls in PROVIDERS}
    | {"infra.providers.http.RetryPolicy", "infra.providers.neon_client.PollPolicy"}
)


def referenced_classes(blob: str) -> set[str]:
    """``module.name`` of every global a pickle loads (protocol 4: two strings, then STACK_GLOBAL)."""
    strings: list[str] = []
    found: set[str] = set()
    for opcode, arg, _ in pickletools.genops(base64.b64decode(blob)):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(str(arg))
        elif opcode.name == "STACK_GLOBAL":
            found.add(f"{strings[-2]}.{strings[-1]}")
        elif opcode.name == "GLOBAL":
            found.add(str(arg).replace(" ", "."))
    return found


def test_the_program_directory_virtualenv_and_requirements_are_where_the_engine_looks(
    project: Project,
) -> None:
    assert "main" not in yaml.safe_load((project.root / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project.program_dir == project.root  # getPwdMain: no main, the root is the program's pwd
    assert (project.program_dir / "__main__.py").is_file()
    assert (project.virtualenv / "bin" / "python").exists()
    assert project.virtualenv == project.program_dir / ".venv"  # the launcher resolves it against its pwd
    requirements = (project.program_dir / "requirements.txt").read_text(encoding="utf-8")
    assert (
        "pulumi==" in requirements
    )  # what `pulumi install` installs (InstallDependencies, cwd = program dir)
    assert "-r infra/policy/requirements.txt" in requirements  # the policy pack shares the venv
    assert "pulumi-policy==" in (project.root / "infra/policy/requirements.txt").read_text(encoding="utf-8")


def test_the_launcher_refuses_a_program_directory_without_the_virtualenv(project: Project) -> None:
    """What `main: infra/` did: the engine starts the plugin from infra/, where .venv does not exist."""
    done = subprocess.run(
        provider_launcher_command("127.0.0.1:1"),
        cwd=project.root / "infra",
        env=child_env(project.runtime_env()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "infra/.venv" in done.stderr
    assert "doesn't exist" in done.stderr


def test_pickled_providers_of_now_and_of_2d603d4_load_in_a_fresh_provider_host(project: Project) -> None:
    assert RECORDED["commit"].startswith("2d603d4")
    recorded: dict[str, str] = RECORDED["providers"]
    current = {f"{cls.__module__}.{cls.__qualname__}": serialize_provider(cls()) for cls in PROVIDERS}
    assert set(recorded) < set(current)  # every class of 2d603d4 is still there, under the same path
    for blob in (*recorded.values(), *current.values()):
        classes = referenced_classes(blob)
        assert classes <= STABLE_PATHS, classes - STABLE_PATHS
        for path in classes:  # each still importable under the recorded path
            module, _, name = path.rpartition(".")
            assert getattr(importlib.import_module(module), name)

    checked: dict[str, list[tuple[str, str]]] = {}
    with provider_host(project, dict(CREDENTIALS), frozenset(CREDENTIALS)) as host:
        for label, blobs in (("2d603d4", recorded), ("now", current)):
            for path, blob in blobs.items():
                # Check unpickles the provider in the host (dill.loads, configure()) and runs its check().
                inputs, failures = host.check(f"urn:pulumi:s::ballast::{path}::r", {}, {"__provider": blob})
                assert inputs["__provider"] == blob
                checked[f"{label} {path}"] = failures
    assert len(checked) == len(recorded) + len(PROVIDERS)
    for where, failures in checked.items():  # empty inputs: each provider's own check refused them
        assert failures, where
        assert all("is required" in reason or "number" in reason for _, reason in failures), where


@pytest.fixture
def analyzer(project: Project) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack as ``RunPlugin`` starts an analyzer: its venv from PulumiPolicy.yaml, resolved against the
    pack directory; ``python -u -m pulumi.policy <engine> <pack dir>``, the pack directory as working dir."""
    pack = project.root / "infra" / "policy"
    options: dict[str, Any] = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text(encoding="utf-8"))[
        "runtime"
    ]["options"]
    assert options["toolchain"] == "pip"
    venv = (pack / options["virtualenv"]).resolve()
    assert venv == (project.root / ".venv").resolve()
    env = child_env({"PULUMI_PROJECT": "ballast", "PULUMI_STACK": "production", "PULUMI_DRY_RUN": "true"})
    with serve_policy_pack(
        [str(venv / "bin" / "python")], pack, cwd=pack, env=env, startup_timeout=STARTUP_TIMEOUT_SECONDS
    ) as stub:
        yield stub


def test_the_policy_pack_finds_its_code_and_virtualenv_when_started_from_its_directory(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert {p.name for p in info.policies} == {p.name for p in build_policies()}
    assert "no-localhost-in-production" in {p.name for p in info.policies}


def test_the_packs_initial_config_keeps_each_rules_own_enforcement_level(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """The engine lets a valid level in the initial config override the policy's own, and an entry without
    one arrives as the proto default (advisory): a mandatory rule must say so there too."""
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    own = {p.name: p.enforcementLevel for p in info.policies}
    assert info.initialConfig, "the pack sends productionStacks per rule"
    for name, config in info.initialConfig.items():
        assert config.enforcementLevel == own[name], name
    assert own["no-localhost-in-production"] == analyzer_pb2.MANDATORY
    assert info.initialConfig["no-localhost-in-production"].enforcementLevel == analyzer_pb2.MANDATORY


def test_without_credentials_the_preview_stops_at_check_naming_key_and_variable(project: Project) -> None:
    """No credential in the stack config and none in the environment (the engine's children get none here)."""
    blobs = {cls.__name__: serialize_provider(cls()) for cls in (NeonBranchProvider, SentryProjectProvider)}
    with provider_host(project, {"aws:region": "eu-central-1"}, frozenset()) as host:
        found = {
            name: host.check(f"urn:pulumi:s::ballast::{name}::r", {}, {"__provider": blob})[1]
            for name, blob in blobs.items()
        }
    for name, key, variable in (
        ("NeonBranchProvider", "ballast:neonApiKey", "NEON_API_KEY"),
        ("SentryProjectProvider", "ballast:sentryAuthToken", "SENTRY_AUTH_TOKEN"),
    ):
        [reason] = [reason for prop, reason in found[name] if prop == ""]
        assert f"pulumi config set --secret {key}" in reason
        assert f"export {variable}" in reason
        assert "Traceback" not in reason
