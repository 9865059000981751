"""Secrets under the mocks: every credential the program handles is marked secret wherever it goes, no
secret value appears in plain text in any resource input, component output or stack output, and staging
(and a preview) never reference production's branch, endpoint, secret or key.

The planted values are the ones the mocks generated (role passwords, connection URIs, the Sentry DSN, the
app secret) plus secret config (the Neon API key, the Sentry token); the scan is a substring search over
every plain string, so a secret embedded in JSON or a URL is caught too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import rpc

from tests.infra.program_harness import ProgramRun, plain_strings, run_program, secret_paths, unwrapped

NEON_KEY = "napi_planted_neon_key_7Yx0q2"
SENTRY_TOKEN = "sntrys_planted_token_4Kp9w1"
CREDENTIALS = {"ballast:neonApiKey": NEON_KEY, "ballast:sentryAuthToken": SENTRY_TOKEN}
STACKS = ("production", "staging", "pr-123")
IDENTIFYING_OUTPUTS = frozenset(
    {"branch_id", "endpoint_id", "host", "pooler_host", "key_id", "dsn", "password", "arn", "name",
     "pooled_uri", "direct_uri", "result", "functionUrl", "layerArn"}
)  # fmt: skip


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(request.param, secrets=CREDENTIALS)


def everything_recorded(run: ProgramRun) -> list[tuple[str, Any]]:
    """(where, value) of every input, every component's and the stack's outputs."""
    recorded: list[tuple[str, Any]] = [(f"{r.type} {r.name}", r.inputs) for r in run.monitor.registrations]
    recorded += [(f"outputs of {urn}", outputs) for urn, outputs in run.monitor.outputs.items()]
    return recorded


def test_no_secret_value_appears_in_plain_text_anywhere(run: ProgramRun) -> None:
    planted = run.planted_secrets()
    scanned = 0
    for where, value in everything_recorded(run):
        for path, text in plain_strings(value):
            scanned += 1
            leaked = [secret for secret in planted if secret in text]
            assert not leaked, f"{where}: {path} holds a secret in plain text"

    assert len(planted) >= 8  # 2 credentials + role password, 2 URIs, DSN, app secret, bcrypt hash
    assert scanned > 50  # every resource has plain strings: names, ARNs, settings


def test_every_planted_secret_is_used_and_wrapped_as_secret_where_it_is(run: ProgramRun) -> None:
    wrapped_texts = [
        json.dumps(unwrapped(value))
        for _, record in everything_recorded(run)
        for value in _secret_values(record)
    ]
    used = {secret for secret in run.planted_secrets() if any(secret in text for text in wrapped_texts)}

    # The URLs/DSN/app secret reach the secret and the function; the Sentry token reaches no resource.
    assert SENTRY_TOKEN not in used
    assert len(used) >= 5


def test_no_dynamic_resource_gets_a_credential_even_as_a_secret(run: ProgramRun) -> None:
    """The providers get their credentials in configure(): nothing in any input, not even encrypted."""
    dynamic = [r for r in run.monitor.registrations if r.type.startswith("pulumi-python:dynamic/")]
    # 7 everywhere (Neon branch, role, database, connection; Sentry project, key; migrations), production's
    # NeonProject, and 3 Sentry alerting resources where Sentry alerts are on
    alerting = 3 if run.stack in ("production", "staging") else 0
    assert len(dynamic) == (8 if run.stack == "production" else 7) + alerting
    for registration in dynamic:
        text = json.dumps(unwrapped(registration.inputs), default=str)
        assert NEON_KEY not in text
        assert SENTRY_TOKEN not in text
        assert not {"api_key", "auth_token"} & set(registration.inputs)
        assert not {"api_key", "auth_token"} & set(registration.additional_secret_outputs)


def _secret_values(value: Any) -> list[Any]:
    if rpc.is_rpc_secret(value):
        return [value]
    if isinstance(value, dict):
        return [found for item in value.values() for found in _secret_values(item)]
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in _secret_values(item)]
    return []


def test_secret_bearing_properties_are_marked_secret(run: ProgramRun) -> None:
    def secret_props(type_: str) -> set[str]:
        [registration] = run.of_type(type_)
        return {path.split(".")[0] for path in secret_paths(registration.inputs)}

    assert "secretString" in secret_props("aws:secretsmanager/secretVersion:SecretVersion")
    functions = run.of_type("aws:lambda/function:Function")
    assert len(functions) == 4  # the example app's and the health check
    for function in functions:
        assert "environment" in {path.split(".")[0] for path in secret_paths(function.inputs)}, function.name
    for dynamic in ("neon:Branch", "neon:Role", "neon:Database", "neon:Connection", "sentry:Project"):
        assert secret_props(f"pulumi-python:dynamic/{dynamic}") == {"__provider"}
    assert rpc.is_rpc_secret(run.exports["migrationDatabaseUrl"])
    # The providers declare their credential-bearing outputs secret (the engine encrypts them in state).
    [connection] = run.of_type("pulumi-python:dynamic/neon:Connection")
    assert {"pooled_uri", "direct_uri"} <= set(connection.additional_secret_outputs)


def identifiers(run: ProgramRun) -> dict[str, str]:
    """Every stage-specific identifier and credential of ``run`` (from what the mocks answered)."""
    found: dict[str, str] = {}
    for resource in run.mocks.resources:
        if resource.read:
            continue
        for key, value in unwrapped(dict(resource.outputs)).items():
            if key in IDENTIFYING_OUTPUTS and isinstance(value, str) and len(value) > 6:
                found[f"{resource.type} {resource.name}.{key}"] = value
    return found


def test_staging_and_previews_never_reference_production() -> None:
    production = run_program("production")
    staging = run_program("staging", stack_outputs={"production": dict(production.exports)})
    preview = run_program(
        "pr-123",
        stack_outputs={"production": dict(production.exports), "staging": dict(staging.exports)},
    )
    production_ids = identifiers(production)
    assert len(production_ids) >= 15
    production_ids.pop("aws:apigatewayv2/stage:Stage ballast-production-http-stage.name")  # "$default"

    for other in (staging, preview):
        text = json.dumps([unwrapped(value) for _, value in everything_recorded(other)], default=str)
        referenced = [where for where, value in production_ids.items() if value in text]
        assert not referenced, f"{other.stack} references production's {referenced}"
        # The one thing they share is the Neon project (read from production's neonProjectId output).
        [branch] = other.of_type("pulumi-python:dynamic/neon:Branch")
        assert unwrapped(branch.inputs["project_id"]) == production.exports["neonProjectId"]

    [staging_branch] = staging.of_type("pulumi-python:dynamic/neon:Branch")
    [preview_branch] = preview.of_type("pulumi-python:dynamic/neon:Branch")
    assert unwrapped(staging_branch.inputs).get("parent_id") is None  # the project's default branch
    assert unwrapped(preview_branch.inputs["parent_id"]) == staging.exports["neonBranchId"]
    assert staging.exports["neonBranchId"] != production.exports["neonBranchId"]
