"""The Pulumi program: one complete, isolated stage per stack (stage = stack name).

config (``StageConfig``) → ``Database`` (Neon branch, endpoint, role, database) → ``Monitoring`` (Sentry
project + key) → ``StageSecrets`` (one Secrets Manager secret) → ``FunctionRuntime`` (layer, health
function, URL). The config is validated before anything is declared; stack outputs are plain identifiers
plus one secret (the migration URL), exported as a secret.

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
from infra.build import BuildError, BuildSpec, LambdaArtifact, LayerBuilder
from infra.config import (
    ConfigError,
    StageConfig,
    read_environment,
    read_stage_config,
)
from infra.database import Database
from infra.function import FunctionRuntime, FunctionRuntimeArgs
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
    function: FunctionRuntime
    exports: Mapping[str, Any]
    alarms: Alarms | None = None  # ballast:alarmsEnabled
    sentry_alerts: SentryAlerts | None = None  # ballast:sentryAlertsEnabled


def program(*, build_layer: LayerBuilder | None = None) -> Stage:
    """Declare the whole stage for ``pulumi.get_stack()``.

    ``build_layer`` makes the Lambda layer: ``infra.build.build_layer`` (the real, cached build) when None;
    ``infra.build.planned_layer`` for the offline plan and tests (no pip, no network). Raises
    ``ConfigError`` before declaring anything.
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
    layer = make_layer(BuildSpec.for_runtime(config.lambda_runtime, config.lambda_architecture))
    function_args = FunctionRuntimeArgs(
        stage=config.stack,
        layer=layer,
        architecture=config.lambda_architecture,
        lambda_runtime=config.lambda_runtime,
        memory_mb=config.lambda_memory_mb,
        timeout_seconds=config.lambda_timeout_seconds,
        log_retention_days=config.log_retention_days,
        reserved_concurrency=config.function_concurrency,
        environment=function_environment(config, layer, database, migrations, monitoring, secrets),
        url_auth_type=config.function_url_auth_type,
        cors_origins=config.cors_origins,
        kms_key_arn=config.lambda_kms_key_arn,
    )
    function = FunctionRuntime(f"{prefix}-fn", function_args, stage)
    alarms = _alarms(config, function_args, function, prefix, stage)
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
        "functionName": function.function_name,
        "functionUrl": function.function_url,
        "healthUrl": pulumi.Output.concat(function.function_url, "api/health"),
        "layerArn": function.layer_arn,
        "layerRelease": layer.release,
        "reservedConcurrency": config.function_concurrency,
        # For migrations: `pulumi stack output --show-secrets migrationDatabaseUrl`.
        "migrationDatabaseUrl": pulumi.Output.secret(database.direct_url),
    }
    if alarms is not None:
        exports["alarmTopicArn"] = alarms.topic_arn
    for name, value in exports.items():
        pulumi.export(name, value)
    return Stage(
        config, layer, database, migrations, monitoring, secrets, function, exports, alarms, sentry_alerts
    )


def _alarms(
    config: StageConfig,
    function_args: FunctionRuntimeArgs,
    function: FunctionRuntime,
    prefix: str,
    opts: pulumi.ResourceOptions,
) -> Alarms | None:
    """The stage's CloudWatch alarms: one entry per function and per HTTP entry (lists: add yours)."""
    if not config.alarms_enabled:
        return None
    functions = [
        AlarmedFunction(
            name=function_args.function_name,
            timeout_seconds=function_args.timeout_seconds,
            reserved_concurrency=function_args.reserved_concurrency,
            log_group_name=function.log_group_name,
        )
    ]
    # The function URL today; an API Gateway HTTP API stage joins as HttpEntry.http_api(api.id, stage, label).
    entries = [HttpEntry.function_url(function_args.function_name)]
    args = config.alarms_args(
        functions=functions, entries=entries, sentry_project=config.monitoring_args().resolved_slug
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
    layer: LambdaArtifact,
    database: Database,
    migrations: SchemaMigrations,
    monitoring: Monitoring,
    secrets: StageSecrets,
) -> dict[str, pulumi.Input[str]]:
    """The health function's environment: what ``runtime.settings`` reads, credentials as secrets.

    Not the direct (unpooled) URL: functions connect through the pooler; migrations read the secret.
    ``BALLAST_SCHEMA_VERSION`` is the migrations' output, so no function changes before they are applied.
    """
    environment: dict[str, pulumi.Input[str]] = {
        **read_environment(config),  # names cannot collide with Ballast's own (validated)
        constants.BALLAST_STAGE: config.stack,
        constants.BALLAST_PROFILE: config.profile.value,  # strictness follows the profile, not the name
        constants.LOG_LEVEL: config.log_level,
        constants.DB_POOL_MIN_SIZE: str(DB_POOL_MIN_SIZE),
        constants.DB_POOL_MAX_SIZE: str(config.pool_max_size),
        constants.SENTRY_TRACES_SAMPLE_RATE: str(config.sentry_traces_sample_rate),
        constants.SENTRY_RELEASE: layer.release,
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
