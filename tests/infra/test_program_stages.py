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

from infra.build import REPO_ROOT as PROJECT_DIR
from infra.build import BuildSpec, CodeSpec, function_release, planned_code, planned_layer
from infra.functionspec import HEALTH_HANDLER
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
PERMISSION = "aws:lambda/permission:Permission"
API = "aws:apigatewayv2/api:Api"
API_STAGE = "aws:apigatewayv2/stage:Stage"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE = "aws:apigatewayv2/route:Route"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
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
FUNCTION_COMPONENT = "ballast:function:Function"
COMPONENTS = (
    "ballast:database:Database",
    "ballast:monitoring:Monitoring",
    "ballast:secrets:StageSecrets",
    "ballast:function:RuntimeLayer",
    "ballast:api:HttpApi",
)
ONCE = (
    LAYER, API, API_STAGE, RULE, TARGET, SECRET, SECRET_VERSION, PASSWORD,
    BRANCH, NEON_ROLE, NEON_DATABASE, CONNECTION, SENTRY_PROJECT, SENTRY_KEY, MIGRATIONS,
)  # fmt: skip
NEON_DATA = (NEON_PROJECT, BRANCH, NEON_ROLE, NEON_DATABASE)
# The example app (Pulumi.yaml's ballast:functions): name -> (handler, code, routes)
APP = {
    "health": (HEALTH_HANDLER, None, ("GET /api/health", "GET /api/health/live", "GET /api/health/ready")),
    "items": ("items_api.handle", "app/items", ("GET /api/items", "POST /api/items", "GET /api/items/{id}")),
    "stats": ("items_stats.handle", "app/stats", ("GET /api/stats",)),
    "cleanup": ("items_cleanup.handle", "app/cleanup", ()),
}
ROUTED = [name for name, (_, _, routes) in APP.items() if routes]


@dataclass(frozen=True)
class Expected:
    memory: int
    timeout: int
    retention: int
    concurrency: dict[str, int]  # per function: its part of the database budget / its pool
    budget: int
    min_cu: float
    max_cu: float
    suspend: int
    rate_limit: int
    recovery_days: int
    cors: tuple[str, ...]
    creates_project: bool
    alerting: bool = False  # CloudWatch alarms + Sentry alerts (the profile's default)
    subscribers: int = 0


# Budgets: floor(0.5 x 188) = 94 at 0.5 CU, floor(0.5 x 93) = 46 at 0.25 CU; shares 1 : 3 : 1 : 0.5, pools
# of 2, cleanup limited to 1 (e.g. items in production: floor(94 x 3 / 5.5) = 51 connections -> 25 instances).
SMALL = {"health": 4, "items": 12, "stats": 4, "cleanup": 1}
EXPECTED = {
    "production": Expected(
        1024,
        15,
        90,
        {"health": 8, "items": 25, "stats": 8, "cleanup": 1},
        94,
        0.5,
        2,
        3600,
        600,
        30,
        (),
        True,
        alerting=True,
        subscribers=1,
    ),
    "staging": Expected(
        512, 15, 14, SMALL, 46, 0.25, 1, 300, 120, 7, ("https://staging.example.com",), False, alerting=True
    ),
    "pr-123": Expected(256, 10, 3, SMALL, 46, 0.25, 0.25, 60, 30, 0, (), False),
}


@pytest.fixture(scope="module", params=list(EXPECTED))
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(request.param)


def plain(registration: Registration, key: str) -> Any:
    return unwrapped(registration.inputs.get(key))


def by_function(run: ProgramRun, type_: str) -> dict[str, Registration]:
    """The registrations of ``type_`` inside each ballast:function:Function component, by function name."""
    components = {
        r.urn: r.name.removeprefix(f"ballast-{run.stack}-") for r in run.of_type(FUNCTION_COMPONENT)
    }
    found = {components[r.parent]: r for r in run.of_type(type_) if r.parent in components}
    assert set(found) == set(APP), type_
    return found


def test_every_resource_is_declared_once_in_its_component(run: ProgramRun) -> None:
    counts = Counter(r.type for r in run.monitor.registrations)
    expected = Counter({t: 1 for t in (*ONCE, *COMPONENTS, "pulumi:pulumi:Stack")})
    expected[FUNCTION_COMPONENT] = expected[FUNCTION] = expected[ROLE] = expected[ROLE_POLICY] = len(APP)
    expected[LOG_GROUP] = len(APP) + 1  # + the API's access logs
    expected[INTEGRATION] = len(ROUTED)
    expected[ROUTE] = sum(len(routes) for _, _, routes in APP.values())
    expected[PERMISSION] = (
        len(ROUTED) + 1
    )  # the API may invoke each routed function; the rule the scheduled one
    if EXPECTED[run.stack].creates_project:
        expected[NEON_PROJECT] = 1
    if EXPECTED[run.stack].alerting:
        # per function: 4 Lambda alarms + 2 log-based; the stage's HTTP API: 5xx rate, latency
        expected.update({ALARM: 6 * len(APP) + 2, METRIC_FILTER: 2 * len(APP), TOPIC: 1})
        expected.update({SENTRY_MONITOR: 1, SENTRY_ALERT: 2})
        expected.update(dict.fromkeys(ALERTING_COMPONENTS, 1))
        if EXPECTED[run.stack].subscribers:
            expected[SUBSCRIPTION] = EXPECTED[run.stack].subscribers

    assert counts == expected
    owners = (*COMPONENTS, *ALERTING_COMPONENTS, FUNCTION_COMPONENT)
    components = {r.urn for r in run.monitor.registrations if r.type in owners}
    for registration in run.monitor.registrations:
        outside = (NEON_PROJECT, "pulumi:pulumi:Stack", "pulumi:pulumi:StackReference")
        if registration.custom and registration.type not in outside and "providers:" not in registration.type:
            assert registration.parent in components, registration.name


def test_every_function_waits_for_the_stage_migrations(run: ProgramRun) -> None:
    # The deploy order: each function's environment holds the migrations' output, so the engine registers
    # (creates, updates) the functions only once the migrations of the same `pulumi up` have been applied.
    migrations = run.one(MIGRATIONS)
    functions = run.of_type(FUNCTION)

    assert len(functions) == len(APP)
    for function in functions:
        assert migrations.urn in function.dependencies, function.name
        assert plain(function, "environment")["variables"][constants.BALLAST_SCHEMA_VERSION] == "0001_items"
    assert plain(migrations, "migrations_dir") == "app/migrations"
    assert len(plain(migrations, "fingerprint")) == 64
    # Over the direct URL, kept secret: never the pooler, never in plain text.
    assert rpc.is_rpc_secret(migrations.inputs["database_url"])
    assert "-pooler." not in plain(migrations, "database_url")
    connection = run.one(CONNECTION)
    assert connection.urn in migrations.dependencies


def test_each_function_runs_its_handler_with_the_stage_settings(run: ProgramRun) -> None:
    expected = EXPECTED[run.stack]
    functions = by_function(run, FUNCTION)
    log_groups = by_function(run, LOG_GROUP)
    layer = run.one(LAYER)

    for name, function in functions.items():
        handler, code, _ = APP[name]
        assert plain(function, "name") == f"ballast-{run.stack}-{name}"
        assert plain(function, "handler") == handler
        assert plain(function, "runtime") == "python3.12"
        assert plain(function, "architectures") == ["arm64"]
        assert plain(function, "memorySize") == expected.memory
        assert plain(function, "timeout") == (60 if name == "cleanup" else expected.timeout)
        assert plain(function, "reservedConcurrentExecutions") == expected.concurrency[name]
        assert plain(function, "layers") == [
            f"arn:aws:lambda:eu-central-1:123456789012:layer:ballast-{run.stack}-runtime:1"
        ]
        assert plain(function, "loggingConfig") == {
            "logFormat": "JSON",
            "logGroup": f"/aws/lambda/ballast-{run.stack}-{name}",
        }
        assert log_groups[name].urn in function.dependencies
        if code is None:  # the health check's code is the layer
            assert plain(function, "sourceCodeHash") is None
    assert plain(layer, "compatibleArchitectures") == ["arm64"]
    assert plain(layer, "compatibleRuntimes") == ["python3.12"]
    assert plain(layer, "layerName") == f"ballast-{run.stack}-runtime"


def test_the_functions_together_fit_the_database_budget(run: ProgramRun) -> None:
    functions = by_function(run, FUNCTION)
    worst_case = sum(
        plain(f, "reservedConcurrentExecutions")
        * int(plain(f, "environment")["variables"]["DB_POOL_MAX_SIZE"])
        for f in functions.values()
    )
    assert worst_case <= EXPECTED[run.stack].budget
    assert run.exports["reservedConcurrency"] == EXPECTED[run.stack].concurrency


def test_each_function_environment_is_what_the_runtime_settings_accept(run: ProgramRun) -> None:
    layer = planned_layer(BuildSpec.for_runtime("python3.12", "arm64"))
    extra = json.loads(committed_config(run.stack).get("ballast:environment", "{}"))
    expected_profile = {"production": "production", "staging": "staging"}.get(run.stack, "preview")
    releases = set()

    for name, function in by_function(run, FUNCTION).items():
        variables = plain(function, "environment")["variables"]
        assert variables[constants.BALLAST_STAGE] == run.stack
        assert "-pooler." in variables[constants.DATABASE_URL]
        assert constants.DATABASE_URL_UNPOOLED not in variables  # migrations read the secret, not functions
        assert variables[constants.DB_POOL_MAX_SIZE] == "2"
        code_dir = APP[name][1]
        code = planned_code(CodeSpec(PROJECT_DIR / code_dir, "arm64")) if code_dir else None
        assert variables[constants.SENTRY_RELEASE] == function_release(name, layer, code)
        releases.add(variables[constants.SENTRY_RELEASE])
        assert {k: variables[k] for k in extra} == extra  # ballast:environment reaches every function
        assert len(variables[constants.APP_SECRET]) == 48
        # The runtime's own validation (production is strict) accepts exactly this environment.
        settings = load_settings(variables)
        assert settings.stage == run.stack
        assert (variables[constants.BALLAST_PROFILE], settings.profile) == (
            expected_profile,
            expected_profile,
        )
        assert settings.is_production is (run.stack == "production")
    assert len(releases) == len(APP)  # each function's release follows its own code
    cleanup = plain(by_function(run, FUNCTION)["cleanup"], "environment")["variables"]
    assert cleanup["ITEMS_RETENTION_DAYS"] == "30"  # the function's own environment


def test_each_function_has_its_own_logs_and_a_role_that_writes_only_there(run: ProgramRun) -> None:
    log_groups, roles, policies = (by_function(run, t) for t in (LOG_GROUP, ROLE, ROLE_POLICY))
    functions = by_function(run, FUNCTION)

    for name in APP:
        group = f"/aws/lambda/ballast-{run.stack}-{name}"
        assert plain(log_groups[name], "name") == group
        assert plain(log_groups[name], "retentionInDays") == EXPECTED[run.stack].retention
        policy = json.loads(plain(policies[name], "policy"))
        [statement] = policy["Statement"]
        assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert statement["Resource"] == [f"arn:aws:logs:eu-central-1:123456789012:log-group:{group}:*"]
        assert "secretsmanager" not in json.dumps(policy)  # credentials arrive as environment variables
        trust = json.loads(plain(roles[name], "assumeRolePolicy"))
        assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        role_name = unwrapped(policies[name].inputs["role"])
        assert plain(functions[name], "role") == f"arn:aws:iam::123456789012:role/{role_name}"
    assert len({unwrapped(p.inputs["role"]) for p in policies.values()}) == len(APP)  # one role each


def test_one_http_api_routes_every_declared_route_to_its_function(run: ProgramRun) -> None:
    api, stage = run.one(API), run.one(API_STAGE)
    integrations = {r.name: r for r in run.of_type(INTEGRATION)}
    lambdas = {name: plain(f, "name") for name, f in by_function(run, FUNCTION).items()}
    routes = {plain(r, "routeKey"): r for r in run.of_type(ROUTE)}
    mocked_ids = {m.name: m.resource_id for m in run.mocks.resources}

    assert plain(api, "protocolType") == "HTTP"
    assert plain(stage, "name") == "$default"
    assert plain(stage, "autoDeploy") is True
    for name in ROUTED:
        integration = integrations[f"ballast-{run.stack}-http-{name}-integration"]
        assert plain(integration, "integrationType") == "AWS_PROXY"
        assert plain(integration, "payloadFormatVersion") == "2.0"
        assert f":function:{lambdas[name]}/invocations" in plain(integration, "integrationUri")
        for key in APP[name][2]:
            assert plain(routes.pop(key), "target") == f"integrations/{mocked_ids[integration.name]}"
    assert routes == {}  # nothing else is routed
    assert str(run.exports["healthUrl"]) == f"{run.exports['apiUrl']}/api/health"
    assert str(run.exports["apiUrl"]).endswith(".execute-api.eu-central-1.amazonaws.com")


def test_the_api_throttles_the_routes_that_ask_and_only_the_api_may_invoke(run: ProgramRun) -> None:
    stage = run.one(API_STAGE)
    api_arn = f"arn:aws:execute-api:eu-central-1:123456789012:{run.mocks.one(API).resource_id}/*/*"
    invokes = [p for p in run.of_type(PERMISSION) if plain(p, "principal") == "apigateway.amazonaws.com"]

    assert plain(stage, "routeSettings") == [
        {"routeKey": "POST /api/items", "throttlingBurstLimit": 20, "throttlingRateLimit": 10}
    ]
    assert plain(stage, "accessLogSettings")["destinationArn"].endswith(
        f":/aws/apigateway/ballast-{run.stack}"
    )
    assert sorted(plain(p, "function") for p in invokes) == sorted(f"ballast-{run.stack}-{n}" for n in ROUTED)
    assert {plain(p, "sourceArn") for p in invokes} == {api_arn}
    assert {plain(r, "authorizationType") for r in run.of_type(ROUTE)} == {"NONE"}


def test_the_api_answers_browsers_from_the_stage_origins_only(run: ProgramRun) -> None:
    cors = EXPECTED[run.stack].cors
    configured = plain(run.one(API), "corsConfiguration")
    if not cors:
        assert configured is None
        return
    assert configured["allowOrigins"] == list(cors)
    assert configured["allowMethods"] == ["GET", "POST"]
    assert "x-request-id" in configured["exposeHeaders"]


def test_the_scheduled_function_runs_on_its_rule_only(run: ProgramRun) -> None:
    rule, target = run.one(RULE), run.one(TARGET)
    [permission] = [p for p in run.of_type(PERMISSION) if plain(p, "principal") == "events.amazonaws.com"]

    assert plain(rule, "scheduleExpression") == "rate(1 day)"
    assert plain(target, "arn").endswith(f":function:ballast-{run.stack}-cleanup")
    assert plain(permission, "function") == f"ballast-{run.stack}-cleanup"
    assert (
        plain(permission, "sourceArn")
        == f"arn:aws:events:eu-central-1:123456789012:rule/ballast-{run.stack}-cleanup-schedule"
    )


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

    assert len(declared) >= len(ONCE) + len(COMPONENTS) + 5 * len(APP)  # per function: 4 + its component
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
    assert exports["functionNames"] == {name: f"ballast-{run.stack}-{name}" for name in APP}
    assert str(exports["neonBranchId"]).startswith("br-")
    assert str(exports["secretArn"]).startswith(
        f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:ballast/{run.stack}/"
    )
    assert len(exports) == (16 if EXPECTED[run.stack].alerting else 15)
    if EXPECTED[run.stack].alerting:
        assert exports["alarmTopicArn"] == f"arn:aws:sns:eu-central-1:123456789012:ballast-{run.stack}-alarms"
