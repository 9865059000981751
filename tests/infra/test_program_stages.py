"""The whole program under Pulumi's mocks for ``staging``, ``production`` and ``pr-123``, with the committed
stack files: every resource present, with the stage's settings, production protected.

Assertions read the monitor's recording after the program ran (inputs are resolved by the time a resource
registers), and each test checks how many resources it looked at, so none can pass by looking at nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pulumi.runtime import rpc

from infra.build import BuildSpec, planned_layer
from infra.function import HEALTH_HANDLER
from runtime import constants
from runtime.settings import load_settings
from tests.infra.program_harness import (
    STACK_TYPE,
    ProgramRun,
    Registration,
    committed_config,
    run_program,
    unwrapped,
)

FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LAYER = "aws:lambda/layerVersion:LayerVersion"
URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"
NEON_PROJECT = "pulumi-python:dynamic/neon:Project"
BRANCH = "pulumi-python:dynamic/neon:Branch"
NEON_ROLE = "pulumi-python:dynamic/neon:Role"
NEON_DATABASE = "pulumi-python:dynamic/neon:Database"
CONNECTION = "pulumi-python:dynamic/neon:Connection"
SENTRY_PROJECT = "pulumi-python:dynamic/sentry:Project"
SENTRY_KEY = "pulumi-python:dynamic/sentry:ClientKey"
SENTRY_MONITOR = "pulumi-python:dynamic/sentry:MetricMonitor"
SENTRY_ALERT = "pulumi-python:dynamic/sentry:Alert"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
METRIC_FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALERTING_COMPONENTS = ("ballast:alarms:Alarms", "ballast:monitoring:SentryAlerts")
MIGRATIONS = "pulumi-python:dynamic/ballast:SchemaMigrations"
COMPONENTS = (
    "ballast:database:Database",
    "ballast:monitoring:Monitoring",
    "ballast:secrets:StageSecrets",
    "ballast:function:FunctionRuntime",
)
COMMON = (
    FUNCTION, LOG_GROUP, ROLE, ROLE_POLICY, LAYER, URL, SECRET, SECRET_VERSION, PASSWORD,
    BRANCH, NEON_ROLE, NEON_DATABASE, CONNECTION, SENTRY_PROJECT, SENTRY_KEY, MIGRATIONS,
)  # fmt: skip
NEON_DATA = (NEON_PROJECT, BRANCH, NEON_ROLE, NEON_DATABASE)


@dataclass(frozen=True)
class Expected:
    memory: int
    timeout: int
    retention: int
    concurrency: int
    min_cu: float
    max_cu: float
    suspend: int
    rate_limit: int
    recovery_days: int
    cors: tuple[str, ...]
    creates_project: bool
    alerting: bool = False  # CloudWatch alarms + Sentry alerts (the profile's default)
    subscribers: int = 0


EXPECTED = {
    "production": Expected(1024, 15, 90, 47, 0.5, 2, 3600, 600, 30, (), True, alerting=True, subscribers=1),
    "staging": Expected(
        512, 15, 14, 23, 0.25, 1, 300, 120, 7, ("https://staging.example.com",), False, alerting=True
    ),
    "pr-123": Expected(256, 10, 3, 23, 0.25, 0.25, 60, 30, 0, (), False),
}


@pytest.fixture(scope="module", params=list(EXPECTED))
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(request.param)


def plain(registration: Registration, key: str) -> Any:
    return unwrapped(registration.inputs.get(key))


def test_every_resource_is_declared_once_in_its_component(run: ProgramRun) -> None:
    counts = Counter(r.type for r in run.monitor.registrations)
    expected = Counter({t: 1 for t in (*COMMON, *COMPONENTS, "pulumi:pulumi:Stack")})
    expected[PERMISSION] = 2  # auth type NONE: InvokeFunctionUrl + InvokeFunction via the URL
    if EXPECTED[run.stack].creates_project:
        expected[NEON_PROJECT] = 1
    if EXPECTED[run.stack].alerting:
        # per function: 4 Lambda alarms + 2 log-based; per HTTP entry (the function URL): 5xx rate, latency
        expected.update({ALARM: 8, METRIC_FILTER: 2, TOPIC: 1, SENTRY_MONITOR: 1, SENTRY_ALERT: 2})
        expected.update(dict.fromkeys(ALERTING_COMPONENTS, 1))
        if EXPECTED[run.stack].subscribers:
            expected[SUBSCRIPTION] = EXPECTED[run.stack].subscribers

    assert counts == expected
    components = {r.type: r.urn for r in run.monitor.registrations if r.type in COMPONENTS}
    for registration in run.monitor.registrations:
        if registration.type in COMMON:
            assert registration.parent in components.values(), registration.name


def test_the_function_waits_for_the_stage_migrations(run: ProgramRun) -> None:
    # The deploy order: the function's environment holds the migrations' output, so the engine registers
    # (creates, updates) the function only once the migrations of the same `pulumi up` have been applied.
    migrations, function = run.one(MIGRATIONS), run.one(FUNCTION)
    variables = plain(function, "environment")["variables"]

    assert migrations.urn in function.dependencies
    assert variables[constants.BALLAST_SCHEMA_VERSION] == "0001_items"
    assert plain(migrations, "migrations_dir") == "app/migrations"
    assert len(plain(migrations, "fingerprint")) == 64
    # Over the direct URL, kept secret: never the pooler, never in plain text.
    assert rpc.is_rpc_secret(migrations.inputs["database_url"])
    assert "-pooler." not in plain(migrations, "database_url")
    connection = run.one(CONNECTION)
    assert connection.urn in migrations.dependencies


def test_the_function_runs_the_health_handler_with_the_stage_settings(run: ProgramRun) -> None:
    expected = EXPECTED[run.stack]
    function = run.one(FUNCTION)
    layer = run.one(LAYER)

    assert plain(function, "name") == f"ballast-{run.stack}-health"
    assert plain(function, "handler") == HEALTH_HANDLER
    assert plain(function, "runtime") == "python3.12"
    assert plain(function, "architectures") == ["arm64"]
    assert plain(function, "memorySize") == expected.memory
    assert plain(function, "timeout") == expected.timeout
    assert plain(function, "reservedConcurrentExecutions") == expected.concurrency
    assert plain(function, "layers") == [
        f"arn:aws:lambda:eu-central-1:123456789012:layer:ballast-{run.stack}-runtime:1"
    ]
    assert plain(function, "loggingConfig") == {
        "logFormat": "JSON",
        "logGroup": f"/aws/lambda/ballast-{run.stack}-health",
    }
    assert run.one(LOG_GROUP).urn in function.dependencies
    assert plain(layer, "compatibleArchitectures") == ["arm64"]
    assert plain(layer, "compatibleRuntimes") == ["python3.12"]
    assert plain(layer, "layerName") == f"ballast-{run.stack}-runtime"


def test_the_function_environment_is_what_the_runtime_settings_accept(run: ProgramRun) -> None:
    variables = plain(run.one(FUNCTION), "environment")["variables"]
    layer = planned_layer(BuildSpec.for_runtime("python3.12", "arm64"))

    assert variables[constants.BALLAST_STAGE] == run.stack
    assert "-pooler." in variables[constants.DATABASE_URL]
    assert constants.DATABASE_URL_UNPOOLED not in variables  # migrations read the secret, not functions
    assert variables[constants.DB_POOL_MAX_SIZE] == "2"
    assert variables[constants.SENTRY_RELEASE] == layer.release
    extra = json.loads(committed_config(run.stack).get("ballast:environment", "{}"))
    assert {name: variables[name] for name in extra} == extra  # ballast:environment reaches the function
    assert len(variables[constants.APP_SECRET]) == 48
    # The runtime's own validation (production is strict) accepts exactly this environment.
    settings = load_settings(variables)
    assert settings.stage == run.stack
    # Strictness travels as the stack's profile, not as its name (a production stack may be called anything).
    expected_profile = {"production": "production", "staging": "staging"}.get(run.stack, "preview")
    assert (variables[constants.BALLAST_PROFILE], settings.profile) == (expected_profile, expected_profile)
    assert settings.is_production is (run.stack == "production")
    assert settings.db_pool_max_size == 2


def test_logs_are_kept_for_the_stage_period_and_the_role_writes_only_there(run: ProgramRun) -> None:
    log_group = run.one(LOG_GROUP)
    policy = json.loads(plain(run.one(ROLE_POLICY), "policy"))
    trust = json.loads(plain(run.one(ROLE), "assumeRolePolicy"))

    assert plain(log_group, "name") == f"/aws/lambda/ballast-{run.stack}-health"
    assert plain(log_group, "retentionInDays") == EXPECTED[run.stack].retention
    [statement] = policy["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == [
        f"arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/ballast-{run.stack}-health:*"
    ]
    assert "secretsmanager" not in json.dumps(policy)  # credentials arrive as environment variables
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_the_function_url_serves_the_public_health_check_with_stage_cors(run: ProgramRun) -> None:
    url = run.one(URL)
    permissions = sorted((plain(p, "action"), plain(p, "principal")) for p in run.of_type(PERMISSION))
    cors = EXPECTED[run.stack].cors

    assert plain(url, "authorizationType") == "NONE"
    assert permissions == [("lambda:InvokeFunction", "*"), ("lambda:InvokeFunctionUrl", "*")]
    [invoke] = [p for p in run.of_type(PERMISSION) if plain(p, "action") == "lambda:InvokeFunction"]
    assert plain(invoke, "invokedViaFunctionUrl") is True  # only through the URL, not a direct Invoke
    if cors:
        assert plain(url, "cors") == {
            "allowMethods": ["GET", "HEAD"],
            "allowOrigins": list(cors),
            "maxAge": 3600,
        }
    else:
        assert plain(url, "cors") is None
    assert str(run.exports["healthUrl"]).endswith(".on.aws/api/health")


def test_one_secret_per_stage_holds_the_urls_dsn_and_app_secret(run: ProgramRun) -> None:
    secret = run.one(SECRET)
    payload = json.loads(plain(run.one(SECRET_VERSION), "secretString"))

    assert plain(secret, "namePrefix") == f"ballast/{run.stack}/"
    assert plain(secret, "recoveryWindowInDays") == EXPECTED[run.stack].recovery_days
    assert set(payload) == {"DATABASE_URL", "DATABASE_URL_UNPOOLED", "SENTRY_DSN", "APP_SECRET"}
    assert "-pooler." in payload["DATABASE_URL"]
    assert "-pooler." not in payload["DATABASE_URL_UNPOOLED"]
    assert len(payload["APP_SECRET"]) >= 32
    assert plain(run.one(PASSWORD), "length") == 48
    assert plain(run.one(PASSWORD), "special") is False


def test_neon_branch_per_stage(run: ProgramRun) -> None:
    expected = EXPECTED[run.stack]
    branch = run.one(BRANCH)

    assert plain(branch, "autoscaling_min_cu") == expected.min_cu
    assert plain(branch, "autoscaling_max_cu") == expected.max_cu
    assert plain(branch, "suspend_timeout_seconds") == expected.suspend
    assert plain(run.one(NEON_ROLE), "role_name") == "ballast_app"
    assert plain(run.one(NEON_DATABASE), "database_name") == "ballast"
    if run.stack == "production":
        assert plain(branch, "adopt_default_branch") is True
        assert plain(branch, "protected") is True
        assert plain(branch, "expires_at") is None
        assert plain(branch, "project_id") == run.mocks.one(NEON_PROJECT).resource_id  # created here
    else:
        assert plain(branch, "adopt_default_branch") is False
        assert plain(branch, "protected") is False
        assert plain(branch, "branch_name") == f"ballast-{run.stack}"
        assert plain(branch, "project_id").startswith("mock-project-")  # production's neonProjectId output


def test_previews_expire_and_scale_to_zero_from_staging(run: ProgramRun) -> None:
    branch = run.one(BRANCH)
    expires_at = plain(branch, "expires_at")
    if run.stack != "pr-123":
        assert expires_at is None
        return
    when = datetime.fromisoformat(expires_at)
    assert datetime.now(UTC) < when <= datetime.now(UTC) + timedelta(days=30)
    assert plain(branch, "parent_id").startswith("br-staging-")  # the staging stack's neonBranchId output
    assert plain(branch, "suspend_timeout_seconds") == 60


def test_sentry_project_and_rate_limited_key_per_stage(run: ProgramRun) -> None:
    project, key = run.one(SENTRY_PROJECT), run.one(SENTRY_KEY)

    assert plain(project, "project_slug") == f"ballast-{run.stack}"
    assert plain(project, "organization") == "your-sentry-org"
    assert plain(key, "rate_limit_count") == EXPECTED[run.stack].rate_limit
    assert plain(key, "rate_limit_window_seconds") == 60


def test_production_protects_every_resource_and_other_stages_none(run: ProgramRun) -> None:
    """Protection is all or nothing per stage: a production ``pulumi destroy`` fails before it deletes
    anything (the engine deletes unprotected resources first), and a preview's destroy removes all."""
    declared = [r for r in run.monitor.registrations if r.type != STACK_TYPE]
    retained = {r.type for r in declared if r.retain_on_delete}

    assert len(declared) >= len(COMMON) + len(COMPONENTS)
    if run.stack == "production":
        assert [r.name for r in declared if not r.protect] == []
        assert retained == {*NEON_DATA, SENTRY_PROJECT, SENTRY_KEY}  # what holds data outlives a teardown
    else:
        assert [r.name for r in declared if r.protect or r.retain_on_delete] == []


def test_exports_are_identifiers_plus_one_secret(run: ProgramRun) -> None:
    from pulumi.runtime import rpc

    exports = run.exports
    secret = {k for k, v in exports.items() if rpc.is_rpc_secret(v)}

    assert secret == {"migrationDatabaseUrl"}
    assert exports["stage"] == run.stack
    assert exports["reservedConcurrency"] == EXPECTED[run.stack].concurrency
    assert str(exports["neonBranchId"]).startswith("br-")
    assert str(exports["secretArn"]).startswith(
        f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:ballast/{run.stack}/"
    )
    assert len(exports) == (16 if EXPECTED[run.stack].alerting else 15)
    if EXPECTED[run.stack].alerting:
        assert exports["alarmTopicArn"] == f"arn:aws:sns:eu-central-1:123456789012:ballast-{run.stack}-alarms"
