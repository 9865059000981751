"""Each rule: a valid production stack passes, then one field broken makes exactly that rule report — with its
name, enforcement level and a message naming the resource and what must change, never a planted value."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from infra.policy import rules
from tests.policy.support import PLANTED_SECRET, check, of, planted_url, resource, run, secret

POOLED_URL = planted_url("ep-calm-bird-123456-pooler.eu-central-1.aws.neon.tech") + "?sslmode=require"
DIRECT_URL = planted_url("ep-calm-bird-123456.eu-central-1.aws.neon.tech") + "?sslmode=require"
SENTRY_DSN = "https://0123456789abcdef@o4501.ingest.de.sentry.io/4501"
SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ballast-production-AbCdEf"
LOG_GROUP_URN = "urn:pulumi:test::ballast::aws:cloudwatch/logGroup:LogGroup::api-logs"


def valid_stack() -> dict[str, dict[str, Any]]:
    """A production stack every rule accepts: type -> {props, options}."""
    return {
        rules.FUNCTION_TYPE: {
            "props": {
                "runtime": "python3.12",
                "reservedConcurrentExecutions": 40.0,
                "environment": {
                    "variables": {
                        "BALLAST_STAGE": "production",
                        "DATABASE_URL": POOLED_URL,
                        "SENTRY_DSN": SENTRY_DSN,
                        "DB_POOL_MAX_SIZE": "2",
                    }
                },
            },
            "dependencies": (LOG_GROUP_URN,),
        },
        rules.LOG_GROUP_TYPE: {"props": {"name": "/aws/lambda/ballast-production", "retentionInDays": 30.0}},
        rules.FUNCTION_URL_TYPE: {
            "props": {"authorizationType": "NONE", "cors": {"allowOrigins": ["https://app.example.com"]}}
        },
        rules.HTTP_API_TYPE: {
            "props": {
                "protocolType": "HTTP",
                "corsConfiguration": {"allowOrigins": ["https://app.example.com"]},
            }
        },
        rules.SECRET_VERSION_TYPE: {
            "props": {
                "secretString": json.dumps({"DATABASE_URL": POOLED_URL, "DATABASE_URL_UNPOOLED": DIRECT_URL})
            }
        },
        rules.IAM_POLICY_TYPES[0]: {
            "props": {
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["secretsmanager:GetSecretValue"],
                                "Resource": SECRET_ARN,
                            }
                        ],
                    }
                )
            }
        },
        rules.IAM_ATTACHMENT_TYPE: {
            "props": {"policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
        },
        rules.NEON_BRANCH_TYPE: {
            "props": {"protected": True, "adopt_default_branch": True, "autoscaling_min_cu": 0.5},
            "protect": True,
        },
        rules.NEON_ROLE_TYPE: {"props": {"role_name": "ballast_app"}, "protect": True},
        rules.NEON_DATABASE_TYPE: {"props": {"database_name": "ballast"}, "protect": True},
        rules.SENTRY_KEY_TYPE: {"props": {"rate_limit_count": 600.0, "rate_limit_window_seconds": 60.0}},
        rules.METRIC_ALARM_TYPE: {"props": {"name": "ballast-production-health-errors", "threshold": 1.0}},
        rules.TOPIC_SUBSCRIPTION_TYPE: {
            "props": {"protocol": "https", "endpoint": "https://hooks.example.com/x"}
        },
    }


def evaluate_stack(stack_spec: dict[str, dict[str, Any]], stack: str = "production", **kwargs: Any) -> Any:
    resources = [
        resource(
            resource_type,
            spec["props"],
            name="api-logs" if resource_type == rules.LOG_GROUP_TYPE else "subject",
            protect=spec.get("protect", True),  # a valid production stack protects everything
            dependencies=spec.get("dependencies", ()),
        )
        for resource_type, spec in stack_spec.items()
    ]
    return run(resources, stack=stack, **kwargs)


def test_the_valid_stack_passes_every_rule() -> None:
    for stack in ("production", "staging"):  # a preview's branch also needs an expiry (its own test)
        evaluation = evaluate_stack(valid_stack(), stack)
        assert evaluation.violations == [], stack
        assert evaluation.skipped == [], stack


def _variables(spec: dict[str, dict[str, Any]]) -> dict[str, Any]:
    variables: dict[str, Any] = spec[rules.FUNCTION_TYPE]["props"]["environment"]["variables"]
    return variables


def _set_function(key: str, value: Any) -> Callable[[dict[str, dict[str, Any]]], None]:
    def mutate(spec: dict[str, dict[str, Any]]) -> None:
        spec[rules.FUNCTION_TYPE]["props"][key] = value

    return mutate


def _set_variable(key: str, value: str | None) -> Callable[[dict[str, dict[str, Any]]], None]:
    def mutate(spec: dict[str, dict[str, Any]]) -> None:
        if value is None:
            del _variables(spec)[key]
        else:
            _variables(spec)[key] = value

    return mutate


def _set(resource_type: str, key: str, value: Any) -> Callable[[dict[str, dict[str, Any]]], None]:
    def mutate(spec: dict[str, dict[str, Any]]) -> None:
        spec[resource_type][key] = value

    return mutate


def _set_prop(resource_type: str, key: str, value: Any) -> Callable[[dict[str, dict[str, Any]]], None]:
    def mutate(spec: dict[str, dict[str, Any]]) -> None:
        spec[resource_type]["props"][key] = value

    return mutate


def _policy_statement(statement: dict[str, Any]) -> Callable[[dict[str, dict[str, Any]]], None]:
    return _set_prop(rules.IAM_POLICY_TYPES[0], "policy", json.dumps({"Statement": [statement]}))


BROKEN = [
    # (policy, mutation, resource type reported, phrases the message must contain)
    (
        "no-localhost-in-production",
        _set_variable("PAYMENTS_WEBHOOK_URL", f"https://hook:{PLANTED_SECRET}@localhost:8443/notify"),
        rules.FUNCTION_TYPE,
        ["'subject'", "environment.variables.PAYMENTS_WEBHOOK_URL", "points at the local machine"],
    ),
    (
        "production-database-url-uses-pooler",
        _set_variable("DATABASE_URL", DIRECT_URL),
        rules.FUNCTION_TYPE,
        ["environment.variables.DATABASE_URL", "pooler", "pooled_url"],
    ),
    (
        "production-has-sentry-dsn",
        _set_variable("SENTRY_DSN", None),
        rules.FUNCTION_TYPE,
        ["environment.variables.SENTRY_DSN", "Monitoring component's dsn"],
    ),
    (
        "function-has-reserved-concurrency",
        _set_function("reservedConcurrentExecutions", -1.0),
        rules.FUNCTION_TYPE,
        ["reservedConcurrentExecutions is not set", "reserved_concurrent_executions"],
    ),
    (
        "function-concurrency-fits-pooler",
        _set_variable("DB_POOL_MAX_SIZE", "5"),  # 40 x 5 = 200: the 10,000 client limit would let it pass
        rules.FUNCTION_TYPE,
        ["'subject'", "adds up to 200 connections", "than the 94", "at 0.5 CU", "ballast:functions"],
    ),
    (
        "lambda-runtime-supported",
        _set_function("runtime", "python3.8"),
        rules.FUNCTION_TYPE,
        ["runtime is python3.8", "python3.12"],
    ),
    (
        "function-url-cors-restricted",
        _set_prop(rules.FUNCTION_URL_TYPE, "cors", {"allowOrigins": ["https://app.example.com", "*"]}),
        rules.FUNCTION_URL_TYPE,
        ["cors.allowOrigins[1]", "List the production origins"],
    ),
    (
        "http-api-cors-restricted",
        _set_prop(rules.HTTP_API_TYPE, "corsConfiguration", {"allowOrigins": ["*"]}),
        rules.HTTP_API_TYPE,
        ["corsConfiguration.allowOrigins[0]", "ballast:corsOrigins"],
    ),
    (
        "log-group-has-retention",
        _set_prop(rules.LOG_GROUP_TYPE, "retentionInDays", 0.0),
        rules.LOG_GROUP_TYPE,
        ["'api-logs'", "retentionInDays", "retention_in_days"],
    ),
    (
        "function-has-log-group",
        _set(rules.FUNCTION_TYPE, "dependencies", ()),
        rules.FUNCTION_TYPE,
        ["'subject'", "log group", "logging_config.log_group"],
    ),
    (
        "production-neon-protected",
        _set(rules.NEON_DATABASE_TYPE, "protect", False),
        rules.NEON_DATABASE_TYPE,
        ["neon:Database 'subject'", "protect=True"],
    ),
    (
        "production-resources-protected",
        _set(rules.FUNCTION_TYPE, "protect", False),
        rules.FUNCTION_TYPE,
        ["aws:lambda/function:Function 'subject'", "pulumi destroy", "protect=True"],
    ),
    (
        "production-neon-protected",
        _set_prop(rules.NEON_BRANCH_TYPE, "protected", False),
        rules.NEON_BRANCH_TYPE,
        ["property protected is false", "protected=True"],
    ),
    (
        "sentry-key-rate-limited",
        _set_prop(rules.SENTRY_KEY_TYPE, "rate_limit_count", 0.0),
        rules.SENTRY_KEY_TYPE,
        ["rate_limit_count", "rate limit"],
    ),
    (
        "secrets-access-least-privilege",
        _policy_statement({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": SECRET_ARN}),
        rules.IAM_POLICY_TYPES[0],
        ["policy(json).Statement[0]", "every Secrets Manager action", "GetSecretValue"],
    ),
    (
        "secrets-access-least-privilege",
        _policy_statement({"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"}),
        rules.IAM_POLICY_TYPES[0],
        ["policy(json).Statement[0]", "every secret (Resource '*')"],
    ),
    (
        "secrets-access-least-privilege",
        _set_prop(rules.IAM_ATTACHMENT_TYPE, "policyArn", "arn:aws:iam::aws:policy/SecretsManagerReadWrite"),
        rules.IAM_ATTACHMENT_TYPE,
        ["policyArn", "SecretsManagerReadWrite"],
    ),
]


@pytest.mark.parametrize(("policy", "mutate", "resource_type", "phrases"), BROKEN)
def test_one_broken_field_is_reported_by_its_rule_only(
    policy: str,
    mutate: Callable[[dict[str, dict[str, Any]]], None],
    resource_type: str,
    phrases: list[str],
) -> None:
    spec = copy.deepcopy(valid_stack())
    mutate(spec)

    evaluation = evaluate_stack(spec)

    assert [v.policy for v in evaluation.violations] == [policy]
    violation = evaluation.violations[0]
    expected_level = (
        EnforcementLevel.MANDATORY if policy == "no-localhost-in-production" else EnforcementLevel.ADVISORY
    )
    assert violation.enforcement_level is expected_level
    assert violation.resource_type == resource_type
    assert violation.description.startswith("Checks that ")
    for phrase in phrases:
        assert phrase in violation.message
    assert PLANTED_SECRET not in violation.message
    assert "localhost" not in violation.message


def test_preview_branches_must_expire_only_in_preview_stacks() -> None:
    branch = {"branch_name": "ballast-pr-7", "parent_id": "br-staging"}
    assert of(check(rules.NEON_BRANCH_TYPE, branch, stack="staging"), "preview-branch-expires") == []

    [violation] = of(check(rules.NEON_BRANCH_TYPE, branch, stack="pr-7"), "preview-branch-expires")
    assert violation.enforcement_level is EnforcementLevel.ADVISORY
    assert "expires_at is not set" in violation.message

    expiring = {**branch, "expires_at": "2026-12-01T00:00:00Z"}
    assert of(check(rules.NEON_BRANCH_TYPE, expiring, stack="pr-7"), "preview-branch-expires") == []


def test_production_only_rules_stay_quiet_outside_production() -> None:
    spec = valid_stack()
    _variables(spec)["DATABASE_URL"] = planted_url("127.0.0.1")
    del _variables(spec)["SENTRY_DSN"]
    spec[rules.NEON_BRANCH_TYPE]["protect"] = False
    spec[rules.LOG_GROUP_TYPE]["protect"] = False

    assert evaluate_stack(spec, "staging").violations == []
    names = {v.policy for v in evaluate_stack(spec).violations}
    assert names == {
        "no-localhost-in-production",
        "production-database-url-uses-pooler",
        "production-has-sentry-dsn",
        "production-neon-protected",
        "production-resources-protected",
    }


def test_secrets_are_judged_whether_plain_or_wrapped_as_the_mock_engine_sends_them() -> None:
    variables = {"DATABASE_URL": planted_url("localhost"), "SENTRY_DSN": SENTRY_DSN}
    for environment in ({"variables": variables}, secret({"variables": variables})):
        props = {"runtime": "python3.12", "reservedConcurrentExecutions": 5.0, "environment": environment}
        evaluation = check(rules.FUNCTION_TYPE, props)
        [violation] = of(evaluation, "no-localhost-in-production")
        assert "environment.variables.DATABASE_URL" in violation.message
        assert len(of(evaluation, "production-database-url-uses-pooler")) == 1


def test_unknown_values_during_preview_are_skipped_not_guessed() -> None:
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-string sentinel
    props = {
        "runtime": "python3.12",
        "reservedConcurrentExecutions": 2.0,  # x the runtime's default pool of 20 fits the smallest compute
        "environment": {"variables": {"DATABASE_URL": unknown, "SENTRY_DSN": unknown}},
    }
    # A lone function: no log group and no alarms declared; nothing about its unknown values.
    lone = ["function-has-log-group", "production-alarms-have-subscriber"]
    evaluation = check(rules.FUNCTION_TYPE, props, protect=True)
    assert sorted(v.policy for v in evaluation.violations) == lone
    assert evaluation.skipped == []

    whole_environment_unknown = {**props, "environment": unknown}
    evaluation = check(rules.FUNCTION_TYPE, whole_environment_unknown, protect=True)
    assert sorted(v.policy for v in evaluation.violations) == lone


def test_a_malformed_database_url_is_reported_without_echoing_it() -> None:
    spec = valid_stack()
    malformed = f"postgresql://app:{PLANTED_SECRET}@/ballast"
    _variables(spec)["DATABASE_URL"] = malformed
    evaluation = evaluate_stack(spec)
    [violation] = of(evaluation, "production-database-url-uses-pooler")
    assert "is not a postgresql:// URL with a host" in violation.message
    # libpq reads a host-less URL as the local Unix socket: the loopback rule says so too, without the value
    [socket] = of(evaluation, "no-localhost-in-production")
    for reported in (violation, socket):
        assert PLANTED_SECRET not in reported.message


def test_the_secret_payload_database_url_is_checked_too() -> None:
    payload = json.dumps({"DATABASE_URL": DIRECT_URL})
    [violation] = of(
        check(rules.SECRET_VERSION_TYPE, {"secretString": payload}), "production-database-url-uses-pooler"
    )
    assert "secretString(json).DATABASE_URL" in violation.message
    assert PLANTED_SECRET not in violation.message


def test_dynamic_type_names_match_the_providers() -> None:
    from infra.providers.neon import NeonBranch, NeonDatabase, NeonRole
    from infra.providers.sentry import SentryClientKey

    for cls, expected in (
        (NeonBranch, rules.NEON_BRANCH_TYPE),
        (NeonRole, rules.NEON_ROLE_TYPE),
        (NeonDatabase, rules.NEON_DATABASE_TYPE),
        (SentryClientKey, rules.SENTRY_KEY_TYPE),
    ):
        assert f"pulumi-python:{cls._resource_type_name}" == expected


def test_a_log_group_path_is_not_the_local_machine() -> None:
    props = {"name": "/aws/lambda/ballast-production-api-v2", "retentionInDays": 30.0}
    assert of(check(rules.LOG_GROUP_TYPE, props), "no-localhost-in-production") == []


@pytest.mark.parametrize(
    ("removed", "phrases"),
    [
        (rules.TOPIC_SUBSCRIPTION_TYPE, ["nobody subscribes to", "ballast:alarmSubscribers[0]"]),
        (rules.METRIC_ALARM_TYPE, ["no CloudWatch alarm", "ballast:alarmsEnabled true"]),
    ],
)
def test_production_alarms_need_a_subscriber(removed: str, phrases: list[str]) -> None:
    spec = copy.deepcopy(valid_stack())
    del spec[removed]

    evaluation = evaluate_stack(spec)

    [violation] = evaluation.violations
    assert violation.policy == "production-alarms-have-subscriber"
    assert violation.enforcement_level is EnforcementLevel.ADVISORY
    assert violation.description.startswith("Checks that ")
    for phrase in phrases:
        assert phrase in violation.message
    assert "hooks.example.com" not in violation.message
    assert evaluate_stack(spec, "staging").violations == []  # production only
    del spec[rules.FUNCTION_TYPE]
    assert of(evaluate_stack(spec), "production-alarms-have-subscriber") == []  # nothing to watch


# The database budget across several functions ---------------------------------------------------------


def _database_function(name: str, reserved: int, pool: int) -> Any:
    variables = {"DATABASE_URL": POOLED_URL, "DB_POOL_MAX_SIZE": str(pool), "SENTRY_DSN": SENTRY_DSN}
    props = {"runtime": "python3.12", "reservedConcurrentExecutions": float(reserved)}
    return resource(
        rules.FUNCTION_TYPE,
        {**props, "environment": {"variables": variables}},
        name=name,
        dependencies=(LOG_GROUP_URN,),
    )


def _budget_violations(functions: list[Any], min_cu: float | None, **kwargs: Any) -> list[Any]:
    branch_props = {"protected": True, "adopt_default_branch": True}
    if min_cu is not None:
        branch_props["autoscaling_min_cu"] = min_cu
    branch = resource(rules.NEON_BRANCH_TYPE, branch_props, name="branch", protect=True)
    log_group = resource(rules.LOG_GROUP_TYPE, {"retentionInDays": 30.0}, name="api-logs")
    return of(
        run([*functions, branch, log_group], stack="staging", **kwargs), "function-concurrency-fits-pooler"
    )


def test_the_budget_is_the_sum_over_every_database_function() -> None:
    # production's 0.5 CU: floor(188 x 0.5) = 94 connections for all functions together
    fits = [_database_function("a", 20, 2), _database_function("b", 20, 2), _database_function("c", 7, 1)]
    assert _budget_violations(fits, 0.5) == []  # 40 + 40 + 7 = 87
    over = [*fits, _database_function("d", 4, 2)]  # + 8 = 95
    [violation] = _budget_violations(over, 0.5)
    assert "'a', 'b', 'c', 'd'" in violation.message
    assert "adds up to 95 connections, more than the 94" in violation.message
    assert violation.resource_name == "a"  # attached to the largest claim
    # each alone is far below the 10,000 client connections the rule used to compare against
    assert _budget_violations(over, 1) == []  # floor(377 x 0.5) = 188


def test_the_smallest_compute_is_assumed_when_the_stack_declares_none() -> None:
    functions = [_database_function("a", 20, 2), _database_function("b", 4, 2)]  # 48 > floor(93 x 0.5)
    assert len(_budget_violations(functions, None)) == 1
    assert (
        _budget_violations(
            functions, None, config={"function-concurrency-fits-pooler": {"minComputeUnits": 0.5}}
        )
        == []
    )
    assert (
        _budget_violations(functions, None, config={"function-concurrency-fits-pooler": {"poolerShare": 0.6}})
        == []
    )


def test_functions_without_a_database_url_are_not_counted() -> None:
    no_database = resource(
        rules.FUNCTION_TYPE,
        {"runtime": "python3.12", "reservedConcurrentExecutions": 500.0, "environment": {"variables": {}}},
        name="webhook",
        dependencies=(LOG_GROUP_URN,),
    )
    assert _budget_violations([_database_function("a", 20, 2), no_database], 0.5) == []
