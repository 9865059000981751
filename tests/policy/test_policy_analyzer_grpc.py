"""The policy pack as Pulumi's CLI runs it: ``python -m pulumi.policy <engine> infra/policy`` starts the
analyzer's gRPC server (``PolicyPack`` in ``__main__``); the test then speaks the engine's side of the
protocol — GetAnalyzerInfo, Configure with the reconciled config, Analyze, AnalyzeStack — and checks that the
analyzer's verdicts are exactly the ones the offline plan's evaluator gives for the same resources.

No Pulumi CLI is needed: only the analyzer process, on 127.0.0.1, stopped at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel

from infra.policy import rules
from infra.policy.evaluate import reconcile_config
from infra.policy.pack import PACK_ENFORCEMENT_LEVEL, build_policies, initial_config
from tests.fixtures.analyzer import serve_policy_pack
from tests.policy.support import PLANTED_SECRET, planted_url, resource, run, secret

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO_ROOT / "infra" / "policy"
STARTUP_TIMEOUT_SECONDS = 60
RPC_TIMEOUT_SECONDS = 30
LEVELS = {
    EnforcementLevel.ADVISORY: analyzer_pb2.ADVISORY,
    EnforcementLevel.MANDATORY: analyzer_pb2.MANDATORY,
    EnforcementLevel.REMEDIATE: analyzer_pb2.REMEDIATE,
    EnforcementLevel.DISABLED: analyzer_pb2.DISABLED,
}
FUNCTION_PROPS: dict[str, Any] = {
    "runtime": "python3.12",
    "reservedConcurrentExecutions": 5.0,
    # The engine sends secrets wrapped (the analyzer opens them): a planted loopback URL inside one.
    "environment": secret({"variables": {"WEBHOOK_URL": planted_url("127.0.0.1"), "LOG_LEVEL": "INFO"}}),
}


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PULUMI_PROJECT": "ballast", "PULUMI_STACK": "production", "PULUMI_DRY_RUN": "true"}
    with serve_policy_pack(
        [sys.executable],
        POLICY_DIR,
        cwd=tmp_path_factory.mktemp("elsewhere"),  # the pack must find the repository on its own
        env=env,
        startup_timeout=STARTUP_TIMEOUT_SECONDS,
    ) as stub:
        yield stub


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _configure(stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """What the engine sends after reconciling defaults, initial config and any config file."""
    policies = build_policies()
    settings = reconcile_config(policies, PACK_ENFORCEMENT_LEVEL, initial=initial_config())
    request = analyzer_pb2.ConfigureAnalyzerRequest(
        policyConfig={
            name: analyzer_pb2.PolicyConfig(
                enforcementLevel=LEVELS[s.enforcement_level], properties=_struct(dict(s.properties))
            )
            for name, s in settings.items()
        }
    )
    stub.Configure(request, timeout=RPC_TIMEOUT_SECONDS)


def _diagnostics(response: analyzer_pb2.AnalyzeResponse) -> list[tuple[str, int, str]]:
    return sorted((d.policyName, d.enforcementLevel, d.message) for d in response.diagnostics)


def _expected(stack_level: bool) -> list[tuple[str, int, str]]:
    """The offline evaluator's verdicts for the same function, in the analyzer's message format."""
    subject = resource(rules.FUNCTION_TYPE, FUNCTION_PROPS, name="api")
    evaluation = run([subject])
    stack_policies = {r.name for r in rules.RULES if isinstance(r, rules.StackRule)}
    return sorted(
        (v.policy, LEVELS[v.enforcement_level], f"{v.description}\n{v.message}")
        for v in evaluation.violations
        if (v.policy in stack_policies) == stack_level
    )


def test_the_analyzer_reports_the_pack_and_initial_config(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=RPC_TIMEOUT_SECONDS)

    assert info.name == "ballast"
    assert [p.name for p in info.policies] == [r.name for r in rules.RULES]
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels["no-localhost-in-production"] == analyzer_pb2.MANDATORY
    assert levels["log-group-has-retention"] == analyzer_pb2.ADVISORY
    initial = json_format.MessageToDict(info.initialConfig["no-localhost-in-production"].properties)
    assert initial == {"productionStacks": ["production"]}


def test_analyze_gives_exactly_the_offline_verdicts(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    _configure(analyzer)
    request = analyzer_pb2.AnalyzeRequest(
        type=rules.FUNCTION_TYPE,
        properties=_struct(FUNCTION_PROPS),
        urn=resource(rules.FUNCTION_TYPE, FUNCTION_PROPS, name="api").urn,
        name="api",
        options=analyzer_pb2.AnalyzerResourceOptions(protect=False),
    )

    response = analyzer.Analyze(request, timeout=RPC_TIMEOUT_SECONDS)

    got = _diagnostics(response)
    assert got == _expected(stack_level=False)
    names = [name for name, _, _ in got]
    assert "no-localhost-in-production" in names  # the planted loopback, seen through the secret wrapper
    for _, _, message in got:
        assert PLANTED_SECRET not in message
        assert "127.0.0.1" not in message


def test_analyze_stack_gives_exactly_the_offline_verdicts(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    _configure(analyzer)
    subject = resource(rules.FUNCTION_TYPE, FUNCTION_PROPS, name="api")
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=subject.type,
                properties=_struct(FUNCTION_PROPS),
                urn=subject.urn,
                name=subject.name,
                options=analyzer_pb2.AnalyzerResourceOptions(protect=False),
            )
        ]
    )

    response = analyzer.AnalyzeStack(request, timeout=RPC_TIMEOUT_SECONDS)

    got = _diagnostics(response)
    assert got == _expected(stack_level=True)
    assert [name for name, _, _ in got] == ["function-has-log-group", "production-alarms-have-subscriber"]
    assert {d.urn for d in response.diagnostics} == {subject.urn, ""}  # the alarm rule names the stack
