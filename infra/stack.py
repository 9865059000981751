"""The Pulumi program: one complete, isolated stage per stack (stage = stack name).

config (``StageConfig``) → ``Database`` (Neon branch, endpoint, role, database) → ``Monitoring`` (Sentry
project + key) → ``StageSecrets`` (one Secrets Manager secret) → ``RuntimeLayer`` → one ``Function`` per
entry of ``ballast:functions`` (the health check included) → ``HttpApi`` (the stage's HTTPS entry, routing
to them). The config is validated before anything is declared; stack outputs are plain identifiers plus one
secret (the migration URL), exported as a secret.

Where the Neon project comes from: a stack with ``ballast:neonManageProject`` (production's default)
declares it — a ``NeonProject`` in the ``Database`` component, created, or adopted when
``ballast:neonProjectId`` is set; any other stack uses ``ballast:neonProjectId`` as is, else another
stack's ``neonProjectId`` output (``ballast:neonProjectStack``; staging and previews default to
``production``). Previews branch from staging's branch (``ballast:neonParentStack``), staging from the
project's default branch — production's.

Protection: every component gets ``ResourceOptions(protect=config.protect)`` and every resource inherits
it, so a production ``pulumi destroy`` stops before deleting anything (README: tearing production down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pulumi

from infra import build
from infra.alarms import AlarmedFunction, Alarms, HttpEntry
from infra.api import ApiFunction, HttpApi, HttpApiArgs
from infra.build import BuildError, BuildSpec, CodeBuilder, CodeSpec, LambdaArtifact, LayerBuilder
from infra.config import (
    ConfigError,
    StageConfig,
    read_environment,
    read_stage_config,
)
from infra.database import Database
from infra.function import Function, FunctionArgs, RuntimeLayer, RuntimeLayerArgs
from infra.functionspec import FunctionSpec
from infra.monitoring import Monitoring, MonitoringConfigError, SentryAlerts, SentryAlertsArgs
from infra.providers.migrations import SchemaMigrations, SchemaMigrationsArgs
from infra.providers.neon import NeonConfigError
from infra.secrets import StageSecrets, StageSecretsArgs
from runtime import constants

PROJECT_ID_OUTPUT: Final = "neonProjectId"
BRANCH_ID_OUTPUT: Final = "neonBranchId"
DB_POOL_MIN_SIZE: Final = 0  # connections open on demand: a frozen instance holds none it never used


@dataclass(frozen=True)
class Stage:
    """Everything ``program()`` declared, for tests and the offline plan."""

    config: StageConfig
    layer: LambdaArtifact
    database: Database
    migrations: SchemaMigrations
    monitoring: Monitoring
    secrets: StageSecrets
    runtime_layer: RuntimeLayer
    functions: Mapping[str, Function]
    api: HttpApi
    exports: Mapping[str, Any]
    alarms: Alarms | None = None  # ballast:alarmsEnabled
    sentry_alerts: SentryAlerts | None = None  # ballast:sentryAlertsEnabled


def program(*, build_layer: LayerBuilder | None = None, build_code: CodeBuilder | None = None) -> Stage:
    """Declare the whole stage for ``pulumi.get_stack()``.

    ``build_layer`` and ``build_code`` make the layer and each function's code: ``infra.build.build_layer``
    and ``build_code`` (the real, cached builds) when None; ``planned_layer``/``planned_code`` for the offline
    plan and tests (no pip, no network). Raises ``ConfigError`` before declaring anything.
    """
    config = read_stage_config(pulumi.get_stack())
    prefix = f"ballast-{config.stack}"
    references = _StackReferences()
    # One place decides protection; every resource of the stage inherits it from its component.
    stage = pulumi.ResourceOptions(protect=config.protect)

    project_id = _neon_project_id(config, references)
    parent_branch_id = _parent_branch_id(config, references)
    database = Database(
        f"{prefix}-db",
        config.database_args(project_id, parent_branch_id=parent_branch_id),
        stage,
    )
    # Applied by `pulumi up` over the direct URL; the functions wait for its version (the deploy order).
    migrations = SchemaMigrations(
        f"{prefix}-migrations",
        SchemaMigrationsArgs(database_url=database.direct_url, migrations_dir=config.migrations_dir),
        pulumi.ResourceOptions(parent=database),
    )
    monitoring = Monitoring(f"{prefix}-sentry", config.monitoring_args(), stage)
    secrets = StageSecrets(
        f"{prefix}-secrets",
        StageSecretsArgs(
            stage=config.stack,
            pooled_url=database.pooled_url,
            direct_url=database.direct_url,
            sentry_dsn=monitoring.dsn,
            recovery_window_days=config.secret_recovery_window_days,
        ),
        stage,
    )
    make_layer = build_layer or build.build_layer
    make_code = build_code or build.build_code
    layer = make_layer(BuildSpec.for_runtime(config.lambda_runtime, config.lambda_architecture))
    runtime_layer = RuntimeLayer(
        f"{prefix}-runtime",
        RuntimeLayerArgs(config.stack, layer, config.lambda_architecture, config.lambda_runtime),
        stage,
    )
    allocations = config.allocations()
    functions: dict[str, Function] = {}
    for name, spec in config.functions.items():
        code = (
            make_code(
                CodeSpec.for_runtime(
                    build.REPO_ROOT / spec.code, config.lambda_runtime, config.lambda_architecture
                )
            )
            if spec.code
            else None
        )
        functions[name] = Function(
            f"{prefix}-{name}",
            FunctionArgs(
                stage=config.stack,
                name=name,
                handler=spec.handler,
                code=code,
                layer_arn=runtime_layer.arn,
                architecture=config.lambda_architecture,
                lambda_runtime=config.lambda_runtime,
                memory_mb=spec.memory_mb or config.lambda_memory_mb,
                timeout_seconds=spec.timeout_seconds or config.lambda_timeout_seconds,
                log_retention_days=config.log_retention_days,
                reserved_concurrency=allocations[name].concurrency,
                environment=function_environment(
                    config,
                    spec,
                    build.function_release(name, layer, code),
                    database,
                    migrations,
                    monitoring,
                    secrets,
                ),
                schedule=spec.schedule,
                kms_key_arn=config.lambda_kms_key_arn,
            ),
            stage,
        )
    api = HttpApi(
        f"{prefix}-http",
        HttpApiArgs(
            stage=config.stack,
            functions=[
                ApiFunction(name, functions[name], spec.routes) for name, spec in config.functions.items()
            ],
            log_retention_days=config.log_retention_days,
            cors_origins=config.cors_origins,
            auth_type=config.api_auth_type,
        ),
        stage,
    )
    alarms = _alarms(config, functions, api, prefix, stage)
    sentry_alerts = _sentry_alerts(config, monitoring, prefix, stage)
    exports: dict[str, Any] = {
        "stage": config.stack,
        PROJECT_ID_OUTPUT: database.project_id,
        BRANCH_ID_OUTPUT: database.branch_id,
        "neonEndpointId": database.endpoint_id,
        "databasePoolerHost": database.pooler_host,
        "sentryProject": monitoring.project_slug,
        "secretArn": secrets.secret_arn,
        "secretName": secrets.secret_name,
        "apiUrl": api.url,
        "functionNames": {name: function.function_name for name, function in functions.items()},
        "reservedConcurrency": {name: allocation.concurrency for name, allocation in allocations.items()},
        "layerArn": runtime_layer.arn,
        "layerRelease": layer.release,
        # For migrations: `pulumi stack output --show-secrets migrationDatabaseUrl`.
        "migrationDatabaseUrl": pulumi.Output.secret(database.direct_url),
    }
    if any(route.key == HEALTH_ROUTE for spec in config.functions.values() for route in spec.routes):
        exports["healthUrl"] = pulumi.Output.concat(api.url, HEALTH_ROUTE.split(" ", 1)[1])
    if alarms is not None:
        exports["alarmTopicArn"] = alarms.topic_arn
    for name, value in exports.items():
        pulumi.export(name, value)
    return Stage(
        config,
        layer,
        database,
        migrations,
        monitoring,
        secrets,
        runtime_layer,
        functions,
        api,
        exports,
        alarms,
        sentry_alerts,
    )


HEALTH_ROUTE: Final = "GET /api/health"


def _alarms(
    config: StageConfig,
    functions: Mapping[str, Function],
    api: HttpApi,
    prefix: str,
    opts: pulumi.ResourceOptions,
) -> Alarms | None:
    """The stage's CloudWatch alarms: one entry per declared function and one for the stage's HTTP API."""
    if not config.alarms_enabled:
        return None
    watched = [
        AlarmedFunction(
            name=function.args.function_name,
            timeout_seconds=function.args.timeout_seconds,
            reserved_concurrency=function.args.reserved_concurrency,
            log_group_name=function.log_group_name,
        )
        for function in functions.values()
    ]
    entries = [HttpEntry.http_api(api.api_id, api.stage.name, f"{prefix}-api")]
    args = config.alarms_args(
        functions=watched, entries=entries, sentry_project=config.monitoring_args().resolved_slug
    )
    return Alarms(f"{prefix}-alarms", args, opts)


def _sentry_alerts(
    config: StageConfig, monitoring: Monitoring, prefix: str, opts: pulumi.ResourceOptions
) -> SentryAlerts | None:
    if not config.sentry_alerts_enabled:
        return None
    thresholds = config.alarm_thresholds
    return SentryAlerts(
        f"{prefix}-sentry-alerts",
        SentryAlertsArgs(
            organization=config.sentry_organization,
            team=config.sentry_team,
            stage=config.stack,
            project_slug=monitoring.project_slug,
            error_count=thresholds.sentry_error_count,
            window_minutes=thresholds.sentry_error_window_minutes,
            api_base_url=config.sentry_base_url,
        ),
        opts,
    )


def function_environment(
    config: StageConfig,
    spec: FunctionSpec,
    release: str,
    database: Database,
    migrations: SchemaMigrations,
    monitoring: Monitoring,
    secrets: StageSecrets,
) -> dict[str, pulumi.Input[str]]:
    """A function's environment: what ``runtime.settings`` reads, credentials as secrets.

    Not the direct (unpooled) URL: functions connect through the pooler; migrations read the secret.
    ``BALLAST_SCHEMA_VERSION`` is the migrations' output, so no function changes before they are applied.
    """
    pool_max_size = config.function_pool_size(spec)
    environment: dict[str, pulumi.Input[str]] = {
        **read_environment(config, spec),  # names cannot collide with Ballast's own (validated)
        constants.BALLAST_STAGE: config.stack,
        constants.BALLAST_PROFILE: config.profile.value,  # strictness follows the profile, not the name
        constants.LOG_LEVEL: config.log_level,
        constants.DB_POOL_MIN_SIZE: str(DB_POOL_MIN_SIZE),
        constants.DB_POOL_MAX_SIZE: str(pool_max_size),  # the budget's arithmetic counts this size
        constants.SENTRY_TRACES_SAMPLE_RATE: str(config.sentry_traces_sample_rate),
        constants.SENTRY_RELEASE: release,
        constants.DATABASE_URL: database.pooled_url,
        constants.BALLAST_SCHEMA_VERSION: migrations.version,
        constants.SENTRY_DSN: monitoring.dsn,
        constants.APP_SECRET: secrets.app_secret,
    }
    if config.cors_origins:
        environment[constants.CORS_ORIGINS] = ",".join(config.cors_origins)
    return environment


class _StackReferences:
    """One ``StackReference`` per referenced stack, named after the current project and organization."""

    def __init__(self) -> None:
        self._made: dict[str, pulumi.StackReference] = {}

    def output(self, stack: str, name: str) -> pulumi.Output[Any]:
        qualified = (
            stack
            if "/" in stack
            else f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{stack}"
        )
        if qualified not in self._made:
            self._made[qualified] = pulumi.StackReference(
                f"ref-{stack.replace('/', '-')}", stack_name=qualified
            )
        return self._made[qualified].require_output(name)


def _neon_project_id(config: StageConfig, references: _StackReferences) -> pulumi.Input[str] | None:
    """The project another stack manages, or None when this stack declares it (``Database`` does)."""
    if config.neon_manage_project:
        return None
    if config.neon_project_id:
        return config.neon_project_id
    if config.neon_project_stack:
        return references.output(config.neon_project_stack, PROJECT_ID_OUTPUT)
    return None  # refused by the config: a stage that neither manages nor names its project


def _parent_branch_id(config: StageConfig, references: _StackReferences) -> pulumi.Input[str] | None:
    if config.neon_parent_branch_id:
        return config.neon_parent_branch_id
    if config.neon_parent_stack:
        return references.output(config.neon_parent_stack, BRANCH_ID_OUTPUT)
    return None  # the project's default branch


# Run by the Pulumi language host (infra/__main__.py) ---------------------------------------------------


STAGE_ERRORS: Final = (ConfigError, NeonConfigError, MonitoringConfigError, BuildError)


def run() -> None:
    """``program()`` with every stage problem reported as a Pulumi error (one per problem), no traceback."""
    try:
        program()
    except STAGE_ERRORS as error:
        problems = error.problems if isinstance(error, ConfigError) else [str(error)]
        for problem in problems:
            pulumi.log.error(problem)
        raise pulumi.RunError(
            f"stack {pulumi.get_stack()!r}: {len(problems)} problem(s), listed above; nothing was changed"
        ) from None
