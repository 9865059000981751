"""``StageConfig``: every ``ballast:*`` stack setting, validated before any resource is declared.

Stage = stack name. The stack's *profile* picks the defaults: ``production`` for the names in
``ballast:productionStacks`` (default ``[production]``), ``preview`` for ``pr-<n>``, ``staging`` for any
other name. Defaults are data (``PROFILE_DEFAULTS``); the stack file overrides any of them. A preview
stack needs no file of its own: the project-level values in ``Pulumi.yaml`` plus the preview profile
describe it completely.

Every problem is reported at once, each naming its key (``ballast:…``) and how to fix it, and never a
value: the credentials (``ballast:neonApiKey``, ``ballast:sentryAuthToken``) are only ever checked for
being secret config, never read into this model: the engine hands them to the dynamic providers'
``configure()`` (``infra.providers.credentials``), so no resource input or output holds them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from dbops import DEFAULT_MIGRATIONS_DIR
from infra import concurrency
from infra.alarms import AlarmsArgs, AlarmThresholds, Subscriber
from infra.build import REPO_ROOT
from infra.database import DatabaseArgs
from infra.functionspec import (
    FUNCTION_NAME,
    HEALTH_HANDLER,
    LAMBDA_NAME_MAX,
    FunctionSpec,
    RouteSpec,
    env_text,
    field_names,
)
from infra.monitoring import MonitoringArgs
from infra.providers import credentials
from infra.providers.neon import MAX_EXPIRY, preview_expiry
from infra.providers.neon_client import NEON_API_BASE_URL
from infra.providers.neon_project import (
    MAX_HISTORY_RETENTION_SECONDS,
    PG_VERSIONS,
    PLAN_HISTORY_LIMITS,
    NeonProjectArgs,
)
from infra.providers.sentry import SENTRY_API_BASE_URL
from runtime import constants

NAMESPACE: Final = credentials.CONFIG_NAMESPACE
PREVIEW_STACK: Final = re.compile(rf"^{constants.PREVIEW_STAGE_PATTERN}$")
# Stack names become part of Neon branch, Sentry project, Lambda and secret names.
STACK_NAME: Final = re.compile(constants.STAGE_NAME_PATTERN)  # the function's BALLAST_STAGE is the stack name
# The credentials: secret config only, never part of StageConfig (read by the providers' configure()).
NEON_API_KEY: Final = credentials.NEON_API_KEY.name
SENTRY_AUTH_TOKEN: Final = credentials.SENTRY_AUTH_TOKEN.name
CREDENTIAL_KEYS: Final = tuple(c.name for c in credentials.CREDENTIALS)
PRODUCTION_STACKS_KEY: Final = "productionStacks"
ALARM_SUBSCRIBERS_KEY: Final = "alarmSubscribers"
ALARM_THRESHOLDS_KEY: Final = "alarmThresholds"
# Object settings a stack file overrides field by field (the profile's object supplies the rest).
MERGED_OBJECT_KEYS: Final = (ALARM_THRESHOLDS_KEY,)
EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The Neon project's own settings: they apply only where this stack manages it (neonManageProject).
NEON_PROJECT_KEYS: Final = (
    "neonProjectName", "neonOrgId", "neonRegion", "neonPgVersion", "neonHistoryRetentionSeconds",
)  # fmt: skip
HOUR: Final = 3600
DAY: Final = 24 * HOUR
FUNCTIONS_KEY: Final = "functions"
# Every stage serves the health endpoints: declared here unless ballast:functions declares `health` itself.
HEALTH_FUNCTION: Final = "health"
HEALTH_SPEC: Final = FunctionSpec(
    handler=HEALTH_HANDLER,
    routes=tuple(
        RouteSpec(method="GET", path=path)
        for path in ("/api/health", "/api/health/live", "/api/health/ready")
    ),
)

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: Final = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
# Neon autoscaling: 0.25 to 16 CU, in these sizes, with max - min at most 8 CU.
NEON_AUTOSCALING_SIZES: Final = (0.25, 0.5, *range(1, 17))
NEON_MAX_AUTOSCALING_SPREAD_CU: Final = 8
# Lambda's environment holds at most 4 KB; the URLs, DSN and app secret need about 1 KB of it.
MAX_EXTRA_ENVIRONMENT_BYTES: Final = 2048
ENV_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Names Lambda reserves for itself: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
LAMBDA_RESERVED_PREFIXES: Final = ("AWS_", "LAMBDA_", "_")
LAMBDA_RESERVED_NAMES: Final = frozenset({"TZ", "_HANDLER", "_X_AMZN_TRACE_ID"})


def ballast_environment_names() -> frozenset[str]:
    """Every environment variable the runtime reads (``runtime.constants``): the program sets those itself."""
    return frozenset(
        value
        for name, value in vars(constants).items()
        if isinstance(value, str) and name == value and name.isupper()
    )


class Profile(StrEnum):
    PRODUCTION = "production"
    STAGING = "staging"
    PREVIEW = "preview"


# Staging's alarm thresholds, written once: a preview that turns alarms on gets the same ones.
STAGING_ALARM_THRESHOLDS: Final[Mapping[str, int]] = {
    "periodSeconds": 300,
    "evaluationPeriods": 3,
    "datapointsToAlarm": 2,
    "functionErrors": 5,
    "functionThrottles": 5,
    "durationPercentOfTimeout": 90,
    "concurrencyPercentOfReserved": 90,
    "answers5xx": 20,
    "databaseUnavailableAnswers": 10,
    "http5xxPercent": 20,
    "httpLatencyP95Ms": 5000,
    "sentryErrorCount": 50,
    "sentryErrorWindowMinutes": 60,
}

# Per-profile defaults, keyed by config key (without the namespace). Stack files override any of them.
PROFILE_DEFAULTS: Final[Mapping[Profile, Mapping[str, Any]]] = {
    Profile.PRODUCTION: {
        "protect": True,
        "neonManageProject": True,
        # Point-in-time restore a week back: the Launch plan's maximum (Scale allows 30 days, Free 6 hours).
        "neonHistoryRetentionSeconds": PLAN_HISTORY_LIMITS["launch"],
        "neonUseDefaultBranch": True,
        "neonProtectedBranch": True,
        "computeMinCu": 0.5,
        "computeMaxCu": 2,
        "suspendTimeoutSeconds": 3600,
        "lambdaMemoryMb": 1024,
        "lambdaTimeoutSeconds": 15,
        "logRetentionDays": 90,
        "logLevel": "INFO",
        "sentryRateLimitCount": 600,
        "sentryTracesSampleRate": 0.05,
        "secretRecoveryWindowDays": 30,
        "alarmsEnabled": True,
        "sentryAlertsEnabled": True,
        ALARM_THRESHOLDS_KEY: {
            "periodSeconds": 60,
            "evaluationPeriods": 5,
            "datapointsToAlarm": 3,
            "functionErrors": 1,
            "functionThrottles": 1,
            "durationPercentOfTimeout": 80,
            "concurrencyPercentOfReserved": 80,
            "answers5xx": 5,
            "databaseUnavailableAnswers": 3,
            "http5xxPercent": 5,
            "httpLatencyP95Ms": 2000,
            "sentryErrorCount": 10,
            "sentryErrorWindowMinutes": 5,
        },
    },
    Profile.STAGING: {
        "neonProjectStack": "production",
        "neonHistoryRetentionSeconds": 1 * DAY,  # Neon's default; used only by a staging with its own project
        "computeMinCu": 0.25,
        "computeMaxCu": 1,
        "suspendTimeoutSeconds": 300,
        "lambdaMemoryMb": 512,
        "lambdaTimeoutSeconds": 15,
        "logRetentionDays": 14,
        "logLevel": "INFO",
        "sentryRateLimitCount": 120,
        "sentryTracesSampleRate": 0.2,
        "secretRecoveryWindowDays": 7,
        # Lighter than production: fewer, slower alarms (longer windows, higher thresholds).
        "alarmsEnabled": True,
        "sentryAlertsEnabled": True,
        ALARM_THRESHOLDS_KEY: STAGING_ALARM_THRESHOLDS,
    },
    Profile.PREVIEW: {
        "neonProjectStack": "production",
        "neonParentStack": "staging",
        "neonHistoryRetentionSeconds": PLAN_HISTORY_LIMITS["free"],  # every plan allows it; own project only
        "computeMinCu": 0.25,
        "computeMaxCu": 0.25,
        "suspendTimeoutSeconds": 60,
        "previewExpiryDays": 7,
        "lambdaMemoryMb": 256,
        "lambdaTimeoutSeconds": 10,
        "logRetentionDays": 3,
        "logLevel": "DEBUG",
        "sentryRateLimitCount": 30,
        "sentryTracesSampleRate": 0.0,
        "secretRecoveryWindowDays": 0,
        # Off unless the stack asks (ballast:alarmsEnabled / ballast:sentryAlertsEnabled); then staging's.
        "alarmsEnabled": False,
        "sentryAlertsEnabled": False,
        ALARM_THRESHOLDS_KEY: STAGING_ALARM_THRESHOLDS,
    },
}

# How to fix each key, appended to its problems.
HINTS: Final[Mapping[str, str]] = {
    "neonProjectId": "the id of an existing Neon project (e.g. `pulumi config set ballast:neonProjectId "
    "$(pulumi stack output neonProjectId --stack production)`), or unset it",
    "neonProjectStack": "the stack whose `neonProjectId` output names the project (e.g. production)",
    "neonManageProject": "true when this stack declares the Neon project (creates it, or adopts "
    "ballast:neonProjectId, and sets its region, Postgres version and history window), else false",
    "neonRegion": "a Neon region id such as aws-eu-central-1 (beside aws:region); fixed once the project "
    "exists",
    "neonPgVersion": f"a Postgres major version Neon runs: {', '.join(map(str, PG_VERSIONS))}; fixed once "
    "the project exists",
    "neonHistoryRetentionSeconds": f"0 to {MAX_HISTORY_RETENTION_SECONDS} seconds, within your Neon plan's "
    f"limit ({', '.join(f'{plan} {limit}' for plan, limit in PLAN_HISTORY_LIMITS.items())})",
    "neonParentStack": "the stack whose `neonBranchId` output is the parent branch (e.g. staging)",
    "neonParentBranchId": "a Neon branch id such as br-cool-darkness-123456, or unset it",
    "computeMinCu": "one of 0.25, 0.5, 1 … 16 CU",
    "computeMaxCu": "one of 0.25, 0.5, 1 … 16 CU, at least ballast:computeMinCu and at most 8 CU above it",
    "suspendTimeoutSeconds": "-1 (never), 0 (Neon's default) or 60 to 604800",
    "poolMaxSize": "1 to 30 connections per function instance",
    "poolerShare": "the fraction of the pooler's server pool all the stage's functions together may use, "
    "above 0 and at most 1",
    "previewExpiryDays": f"1 to {MAX_EXPIRY.days} days",
    "lambdaMemoryMb": "128 to 10240 MB",
    "lambdaTimeoutSeconds": "1 to 900 seconds",
    "lambdaArchitecture": "arm64 or x86_64",
    "lambdaRuntime": "python3.12 or python3.13",
    "logRetentionDays": f"one of CloudWatch's periods: {', '.join(map(str, LOG_RETENTION_DAYS))}",
    "logLevel": "DEBUG, INFO, WARNING or ERROR",
    "apiAuthType": "NONE (public routes) or AWS_IAM (SigV4-signed callers only)",
    FUNCTIONS_KEY: "a map of function names to their settings (README: Add your function)",
    "corsOrigins": 'a list of origins such as ["https://app.example.com"]',
    "environment": "a map of variable names to strings, e.g. "
    '`pulumi config set --path "ballast:environment.FEATURE_X_ENABLED" true`',
    "sentryOrganization": "your Sentry organization slug",
    "sentryTeam": "the slug of the Sentry team that owns the stage's project",
    "sentryRateLimitCount": "at least 1 event per window",
    "sentryRateLimitWindowSeconds": "1 to 86400 seconds",
    "sentryTracesSampleRate": "0.0 to 1.0",
    "secretRecoveryWindowDays": "0 (delete at once) or 7 to 30 days",
    "alarmsEnabled": "true or false: CloudWatch alarms and their SNS topic for this stage",
    ALARM_SUBSCRIBERS_KEY: "a list of e-mail addresses or https:// endpoints, e.g. "
    '`pulumi config set --path "ballast:alarmSubscribers[0]" oncall@example.com` (add --secret for a '
    "webhook URL holding a token)",
    ALARM_THRESHOLDS_KEY: "an object overriding the profile's thresholds field by field, e.g. "
    '`pulumi config set --path "ballast:alarmThresholds.http5xxPercent" 2` (fields: infra/alarms.py '
    "AlarmThresholds)",
    "sentryAlertsEnabled": "true or false: Sentry alerts (new issue, error count) to ballast:sentryTeam",
    "migrationsDir": "a directory relative to the repository root, e.g. app/migrations",
    "restoreDrill": "an object with tables ({name: fewest rows}), checks ([SQL returning true]) and "
    "freshnessColumn (table.column)",
    PRODUCTION_STACKS_KEY: "a list of stack names, e.g. "
    '`pulumi config set --path "ballast:productionStacks[0]" production`',
}

PositiveInt = Annotated[int, Field(ge=1)]
NEON_DEFAULT_REGION: Final = "aws-eu-central-1"  # the functions' aws:region (Pulumi.yaml): one round trip
NEON_DEFAULT_PG_VERSION: Final = 17  # Neon's default for new projects
SQL_NAME: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"  # table or schema.table


class RestoreDrillSettings(BaseModel):
    """``ballast:restoreDrill``: what a copy restored by ``./ballast drill restore`` must show."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    # The app's tables, each with the fewest rows a good copy holds (0: present is enough).
    tables: dict[Annotated[str, Field(pattern=SQL_NAME)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict
    )
    # Queries that must each return one row whose first column is true.
    checks: tuple[Annotated[str, Field(min_length=1, max_length=2000)], ...] = ()
    # A timestamp column (table.column) whose newest value gives the copy's data age.
    freshness_column: (
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,190}\.[A-Za-z_]\w{0,62}$")] | None
    ) = None


class StageConfig(BaseModel):
    """One stage's settings. Field ``x_y`` is config key ``ballast:xY``."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=False
    )

    stack: str = Field(exclude=True)
    profile: Profile = Field(exclude=True)
    production_stacks: tuple[str, ...] = ("production",)
    protect: bool = False

    # Neon: the project is managed by this stack (created, or adopted by id), or named by id or another
    # stack's output. Region, Postgres version and history window are the managed project's settings.
    neon_manage_project: bool = False
    neon_project_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")] | None = None
    neon_region: str = NEON_DEFAULT_REGION
    neon_pg_version: int = NEON_DEFAULT_PG_VERSION
    neon_history_retention_seconds: int
    neon_project_stack: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-/]+$")] | None = None
    neon_project_name: Annotated[str, Field(min_length=1, max_length=64)] = "ballast"
    neon_org_id: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")] | None = None
    neon_api_base_url: str = NEON_API_BASE_URL
    neon_branch_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    neon_use_default_branch: bool = False
    neon_protected_branch: bool = False
    neon_parent_branch_id: Annotated[str, Field(pattern=r"^br-[a-z0-9-]+$")] | None = None
    neon_parent_stack: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-/]+$")] | None = None
    compute_min_cu: float
    compute_max_cu: float
    suspend_timeout_seconds: int
    database_name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")] = "ballast"
    role_name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")] = "ballast_app"
    pool_max_size: Annotated[int, Field(ge=1, le=constants.MAX_POOL_SIZE)] = 2
    pooler_share: Annotated[float, Field(gt=0, le=1)] = concurrency.DEFAULT_POOLER_SHARE
    preview_expiry_days: Annotated[int, Field(ge=1, le=MAX_EXPIRY.days)] | None = None

    # The function
    lambda_memory_mb: Annotated[int, Field(ge=128, le=10240)]
    lambda_timeout_seconds: Annotated[int, Field(ge=1, le=900)]
    lambda_architecture: Literal["arm64", "x86_64"] = "arm64"
    lambda_runtime: Literal["python3.12", "python3.13"] = "python3.12"
    lambda_kms_key_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:kms:")] | None = None
    log_retention_days: int
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    api_auth_type: Literal["NONE", "AWS_IAM"] = "NONE"
    cors_origins: tuple[str, ...] = ()
    environment: dict[str, str] = Field(default_factory=dict)
    environment_is_secret: bool = Field(default=False, exclude=True)
    functions: dict[str, FunctionSpec] = Field(default_factory=lambda: {HEALTH_FUNCTION: HEALTH_SPEC})

    # Sentry
    sentry_organization: Annotated[str, Field(min_length=1)]
    sentry_team: Annotated[str, Field(min_length=1)]
    sentry_base_url: str = SENTRY_API_BASE_URL
    sentry_rate_limit_count: PositiveInt
    sentry_rate_limit_window_seconds: Annotated[int, Field(ge=1, le=86400)] = 60
    sentry_traces_sample_rate: Annotated[float, Field(ge=0, le=1)]

    # The stage's secret in AWS Secrets Manager
    secret_recovery_window_days: int

    # Alerting: CloudWatch alarms to an SNS topic, and Sentry alerts to the stage's team
    alarms_enabled: bool
    alarm_subscribers: tuple[str, ...] = ()
    alarm_subscribers_is_secret: bool = Field(default=False, exclude=True)
    alarm_thresholds: AlarmThresholds
    sentry_alerts_enabled: bool

    # Schema migrations (applied before the functions change) and the restore drill (dbops/)
    migrations_dir: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")] = DEFAULT_MIGRATIONS_DIR
    restore_drill: RestoreDrillSettings = Field(default_factory=RestoreDrillSettings)

    @field_validator("alarm_subscribers")
    @classmethod
    def _subscribers(cls, subscribers: tuple[str, ...]) -> tuple[str, ...]:
        bad = [index for index, value in enumerate(subscribers) if not _is_subscriber(value)]
        if bad:
            raise ValueError(
                f"entries {bad} are neither an e-mail address nor an https:// URL: the value is not shown"
            )
        if len(set(subscribers)) != len(subscribers):
            raise ValueError("lists an endpoint twice")
        return subscribers

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError("is not a CloudWatch retention period")
        return days

    @field_validator("secret_recovery_window_days")
    @classmethod
    def _recovery_window(cls, days: int) -> int:
        if days != 0 and not 7 <= days <= 30:
            raise ValueError("Secrets Manager accepts 0 or 7 to 30 days")
        return days

    @field_validator("migrations_dir")
    @classmethod
    def _inside_repository(cls, path: str) -> str:
        if ".." in path.split("/"):
            raise ValueError("must stay inside the repository (no '..')")
        return path

    @field_validator("compute_min_cu", "compute_max_cu")
    @classmethod
    def _compute_size(cls, size: float) -> float:
        if size not in NEON_AUTOSCALING_SIZES:
            raise ValueError("is not a Neon autoscaling size")
        return size

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_values(cls, value: Any) -> Any:
        # Config objects may hold booleans and numbers; the function's environment holds strings.
        if isinstance(value, Mapping):
            return {k: env_text(v) for k, v in value.items()}
        return value

    @field_validator("environment")
    @classmethod
    def _environment_names(cls, value: dict[str, str]) -> dict[str, str]:
        problems = environment_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("functions", mode="before")
    @classmethod
    def _with_health(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and HEALTH_FUNCTION not in value:
            return {HEALTH_FUNCTION: HEALTH_SPEC, **value}
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        bad = [index for index, origin in enumerate(origins) if origin != "*" and not _is_origin(origin)]
        if bad:
            raise ValueError(
                f"entries {bad} are not origins (scheme://host[:port], no path): the value is not shown"
            )
        return origins

    # Derived settings ---------------------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.profile is Profile.PRODUCTION

    @property
    def is_preview(self) -> bool:
        return self.profile is Profile.PREVIEW

    @property
    def branch_name(self) -> str:
        return self.neon_branch_name or f"ballast-{self.stack}"

    @property
    def preview_expires_at(self) -> str | None:
        """``expires_at`` of a preview branch (``previewExpiryDays`` ahead, on the hour), else None."""
        return preview_expiry(self.preview_expiry_days) if self.preview_expiry_days else None

    @property
    def connection_budget(self) -> int:
        """Connections all the stage's functions together may hold (``infra.concurrency``)."""
        return concurrency.connection_budget(
            min_compute_units=self.compute_min_cu, pooler_share=self.pooler_share
        )

    def function_pool_size(self, spec: FunctionSpec) -> int:
        return spec.pool_max_size or self.pool_max_size

    def allocations(self) -> dict[str, concurrency.Allocation]:
        """Each function's part of the budget (raises ``concurrency.BudgetError`` when they cannot fit)."""
        demands = [
            concurrency.Demand(name, spec.db_share, self.function_pool_size(spec), spec.reserved_concurrency)
            for name, spec in self.functions.items()
        ]
        return concurrency.allocate(self.connection_budget, demands)

    def lambda_name(self, function: str) -> str:
        return f"ballast-{self.stack}-{function}"

    def function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """``ballast:environment`` with the function's own ``environment`` over it."""
        return {**self.environment, **spec.environment}

    @property
    def neon_project_args(self) -> NeonProjectArgs | None:
        """The Neon project this stack declares, or None when it uses one another stack manages."""
        if not self.neon_manage_project:
            return None
        return NeonProjectArgs(
            project_name=self.neon_project_name,
            region_id=self.neon_region,
            pg_version=self.neon_pg_version,
            history_retention_seconds=self.neon_history_retention_seconds,
            org_id=self.neon_org_id,
            adopt_project_id=self.neon_project_id,
            api_base_url=self.neon_api_base_url,
        )

    @property
    def history_window(self) -> str:
        """The stage's point-in-time restore window, in words (Neon keeps one per project)."""
        if self.neon_manage_project:
            return f"{_duration(self.neon_history_retention_seconds)}, set on the Neon project by this stack"
        owner = f"stack {self.neon_project_stack}" if self.neon_project_stack else "its owner"
        if self.neon_project_id:
            owner = f"whoever manages project {self.neon_project_id}"
        return f"the Neon project's own (one window per project), set by {owner}"

    def database_args(self, project_id: pulumi.Input[str] | None, **overrides: Any) -> DatabaseArgs:
        """``project_id`` is the project another stack manages; None when this stack declares it."""
        return DatabaseArgs(
            project_id=project_id,
            project=self.neon_project_args,
            stage=self.stack,
            branch_name=self.branch_name,
            adopt_default_branch=self.neon_use_default_branch,
            protected=self.neon_protected_branch,
            expires_at=self.preview_expires_at,
            autoscaling_min_cu=self.compute_min_cu,
            autoscaling_max_cu=self.compute_max_cu,
            suspend_timeout_seconds=self.suspend_timeout_seconds,
            role_name=self.role_name,
            database_name=self.database_name,
            retain_on_delete=self.protect,
            api_base_url=self.neon_api_base_url,
            **overrides,
        )

    def alarms_args(self, **fields: Any) -> AlarmsArgs:
        """``AlarmsArgs`` with the stage's thresholds and subscribers; ``fields`` add functions, entries…"""
        subscribers = [
            Subscriber.parse(value, secret=self.alarm_subscribers_is_secret)
            for value in self.alarm_subscribers
        ]
        return AlarmsArgs(
            stage=self.stack, thresholds=self.alarm_thresholds, subscribers=subscribers, **fields
        )

    def monitoring_args(self, **overrides: Any) -> MonitoringArgs:
        return MonitoringArgs(
            organization=self.sentry_organization,
            team=self.sentry_team,
            stage=self.stack,
            rate_limit_count=self.sentry_rate_limit_count,
            rate_limit_window_seconds=self.sentry_rate_limit_window_seconds,
            retain_on_delete=self.protect,
            api_base_url=self.sentry_base_url,
            **overrides,
        )


def _duration(seconds: int) -> str:
    for unit, size in (("day", DAY), ("hour", HOUR)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ({seconds} s)"
    return f"{seconds} s" if seconds else "none (0 s: no point-in-time restore)"


def environment_problems(value: Mapping[str, str]) -> list[str]:
    """Problems of an extra environment (names Lambda or Ballast reserve, the size Lambda allows)."""
    problems = [problem for name in sorted(value) for problem in _env_name_problems(name)]
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > MAX_EXTRA_ENVIRONMENT_BYTES:
        problems.append(f"holds {size} bytes; at most {MAX_EXTRA_ENVIRONMENT_BYTES} fit beside Ballast's own")
    return problems


def _env_name_problems(name: str) -> list[str]:
    if name in LAMBDA_RESERVED_NAMES or name.startswith(LAMBDA_RESERVED_PREFIXES):
        return [f"{name} is reserved by AWS Lambda"]
    if not ENV_NAME.match(name):
        return ["a variable name uses letters, digits and '_' and starts with a letter"]
    if name in ballast_environment_names():
        return [f"{name} is set by Ballast itself (change it through its own ballast:* setting)"]
    return []


def _is_subscriber(value: str) -> bool:
    if value.startswith("https://"):
        try:
            return bool(urlsplit(value).hostname)
        except ValueError:
            return False
    return bool(EMAIL.match(value))


def _is_origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment or parts.username or parts.password)
    )


# Loading ---------------------------------------------------------------------------------------------------


class ConfigError(ValueError):
    """The stack config is invalid; ``problems`` lists each, naming its ``ballast:`` key and the fix."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        super().__init__(f"stack {stack!r}: {len(problems)} config problem(s): " + "; ".join(problems))
        self.stack = stack
        self.problems = problems


@dataclass(frozen=True)
class _Problem:
    key: str | None  # None: not a config key (the stack name)
    reason: str

    def text(self) -> str:
        if self.key is None:
            return self.reason
        base, _, nested = self.key.partition(".")
        hint = (
            None if base == FUNCTIONS_KEY and nested else HINTS.get(base)
        )  # a function's own reason says it
        fix = f" (expected: {hint})" if hint else ""
        return f"{NAMESPACE}:{self.key}: {self.reason}{fix}"


def profile_for(stack: str, production_stacks: tuple[str, ...]) -> Profile:
    if stack in production_stacks:
        return Profile.PRODUCTION
    if PREVIEW_STACK.match(stack):
        return Profile.PREVIEW
    return Profile.STAGING


def settable_keys() -> frozenset[str]:
    internal = {"stack", "profile", "environment_is_secret", "alarm_subscribers_is_secret"}
    fields = StageConfig.model_fields
    return frozenset(to_camel(name) for name in fields if name not in internal)


def load_stage_config(
    stack: str,
    raw: Mapping[str, Any],
    *,
    secret_keys: frozenset[str] = frozenset(),
    project_dir: Path = REPO_ROOT,
) -> StageConfig:
    """Validate ``raw`` (``ballast`` config keys without the namespace) for ``stack``.

    Values may be the strings the Pulumi CLI passes (objects and lists as JSON) or already typed.
    ``secret_keys`` are the keys set with ``--secret``; functions' ``code`` is relative to ``project_dir``
    (read only to check that each handler's module is there). Raises :class:`ConfigError` listing every
    problem.
    """
    problems: list[_Problem] = []
    values: dict[str, Any] = {}
    known = settable_keys()
    for key, value in raw.items():
        if key in CREDENTIAL_KEYS:
            if key not in secret_keys:
                problems.append(
                    _Problem(key, f"is stored in plain text: `pulumi config set --secret {NAMESPACE}:{key}`")
                )
            continue
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known | set(CREDENTIAL_KEYS)), n=1)
            hint = f" (did you mean {NAMESPACE}:{close[0]}?)" if close else ""
            problems.append(_Problem(key, f"is not a Ballast setting{hint}; remove it"))
            continue
        decoded = _decode(key, value, problems)
        if decoded is not None:
            values[key] = decoded

    production_stacks = _production_stacks(values.get(PRODUCTION_STACKS_KEY), problems)
    profile = profile_for(stack, production_stacks)
    defaults = PROFILE_DEFAULTS[profile]
    merged = {**defaults, **values}
    for key in MERGED_OBJECT_KEYS:
        if isinstance(values.get(key), Mapping) and isinstance(defaults.get(key), Mapping):
            merged[key] = {**defaults[key], **values[key]}
    merged.update(
        stack=stack,
        profile=profile,
        environmentIsSecret=bool({"environment", FUNCTIONS_KEY} & secret_keys),
        alarmSubscribersIsSecret=ALARM_SUBSCRIBERS_KEY in secret_keys,
    )
    stack_name_ok = bool(STACK_NAME.fullmatch(stack))
    if not stack_name_ok:
        problems.append(
            _Problem(
                None, f"stack name {stack!r}: use lowercase letters, digits and '-' (at most 40), e.g. qa"
            )
        )

    config: StageConfig | None = None
    try:
        config = StageConfig.model_validate(merged)
    except ValidationError as error:
        problems.extend(_pydantic_problems(error))
    if config is not None and stack_name_ok:  # names derived from a bad stack name would only repeat it
        problems.extend(_cross_field_problems(config, explicit=frozenset(values)))
        problems.extend(_function_problems(config, project_dir))
    if problems:
        raise ConfigError(stack, [p.text() for p in problems])
    assert config is not None
    return config


def _decode(key: str, value: Any, problems: list[_Problem]) -> Any:
    """Objects and lists arrive from the CLI as JSON strings; an empty string means unset."""
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    expects_json = key in (
        "environment",
        "corsOrigins",
        "restoreDrill",
        PRODUCTION_STACKS_KEY,
        ALARM_SUBSCRIBERS_KEY,
        ALARM_THRESHOLDS_KEY,
        FUNCTIONS_KEY,
    )
    if expects_json:
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            problems.append(_Problem(key, "is not a YAML object or list (nor JSON)"))
            return None
    if value[:1] in ("{", "[") and _is_json_container(value):
        # The CLI hands a map or list over as its JSON text: a single-value setting must not take it as one.
        problems.append(_Problem(key, "takes a single value, not a map or list"))
        return None
    return value


def _is_json_container(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict | list)
    except (ValueError, RecursionError):
        return False


def _production_stacks(value: Any, problems: list[_Problem]) -> tuple[str, ...]:
    if value is None:
        return ("production",)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    problems.append(_Problem(PRODUCTION_STACKS_KEY, "must be a non-empty list of stack names"))
    return ("production",)


def _pydantic_problems(error: ValidationError) -> list[_Problem]:
    problems: list[_Problem] = []
    for item in error.errors(include_input=False, include_url=False):
        location = [str(part) for part in item["loc"]]
        if item["type"] == "missing":
            reason = f"is required: `pulumi config set {NAMESPACE}:{'.'.join(location)} <value>`"
        elif item["type"] == "extra_forbidden":
            reason = _unknown_field(location)
        else:
            # pydantic's own wording ("Input should be …") names the rule, never the value.
            reason = str(item["msg"]).removeprefix("Value error, ")
        problems.append(_Problem(".".join(location) or "(config)", reason))
    return problems


def _unknown_field(location: list[str]) -> str:
    """An unknown field of a function or route, with the closest known one."""
    model = RouteSpec if len(location) > 3 and location[2] == "routes" else FunctionSpec
    close = difflib.get_close_matches(location[-1], field_names(model), n=1)
    hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(field_names(model))})"
    return f"is not a field of a {'route' if model is RouteSpec else 'function'}{hint}; remove it"


NEON_PROPS: Final = {
    "parent_branch_id": "neonParentBranchId",
    "branch_name": "neonBranchName",
    "autoscaling_min_cu": "computeMinCu",
    "autoscaling_max_cu": "computeMaxCu",
    "suspend_timeout_seconds": "suspendTimeoutSeconds",
    "expires_at": "previewExpiryDays",
    "role_name": "roleName",
    "database_name": "databaseName",
    "protected": "neonProtectedBranch",
    "project_id": "neonProjectStack",
    "project_name": "neonProjectName",
    "region_id": "neonRegion",
    "pg_version": "neonPgVersion",
    "history_retention_seconds": "neonHistoryRetentionSeconds",
    "org_id": "neonOrgId",
    "adopt_project_id": "neonProjectId",
}
SENTRY_PROPS: Final = {
    "organization": "sentryOrganization",
    "team": "sentryTeam",
    "rate_limit_count": "sentryRateLimitCount",
    "rate_limit_window_seconds": "sentryRateLimitWindowSeconds",
}


def _cross_field_problems(config: StageConfig, *, explicit: frozenset[str]) -> list[_Problem]:
    problems: list[_Problem] = []
    # The Neon and Sentry rules live with their components (one implementation each); map them to keys.
    parent = "(set)" if (config.neon_parent_branch_id or config.neon_parent_stack) else None
    named = config.neon_project_id or config.neon_project_stack
    project_id = None if config.neon_manage_project or not named else "(project)"
    database = config.database_args(project_id, parent_branch_id=parent)
    problems += [_Problem(NEON_PROPS.get(prop, prop), reason) for prop, reason in database.problems()]
    monitoring = config.monitoring_args()
    problems += [_Problem(SENTRY_PROPS.get(prop, prop), reason) for prop, reason in monitoring.problems()]

    if config.compute_max_cu - config.compute_min_cu > NEON_MAX_AUTOSCALING_SPREAD_CU:
        problems.append(_Problem("computeMaxCu", "is more than 8 CU above ballast:computeMinCu"))
    if config.neon_manage_project and config.neon_project_stack and "neonProjectStack" in explicit:
        problems.append(
            _Problem("neonProjectStack", "cannot be combined with ballast:neonManageProject: this stack "
                     "declares the project itself")
        )  # fmt: skip
    if config.neon_project_id and config.neon_project_stack and "neonProjectStack" in explicit:
        problems.append(_Problem("neonProjectStack", "cannot be combined with ballast:neonProjectId"))
    if config.neon_project_stack == config.stack:
        problems.append(_Problem("neonProjectStack", "names this stack itself"))
    if config.neon_parent_stack == config.stack:
        problems.append(_Problem("neonParentStack", "names this stack itself"))
    if config.neon_parent_branch_id and config.neon_parent_stack and "neonParentStack" in explicit:
        problems.append(_Problem("neonParentStack", "cannot be combined with ballast:neonParentBranchId"))
    if config.is_preview and not config.preview_expiry_days:
        problems.append(_Problem("previewExpiryDays", "a preview branch must expire"))
    if not config.is_preview and config.preview_expiry_days:
        problems.append(
            _Problem(
                "previewExpiryDays", "only preview stacks (pr-<n>) expire: staging branches have children"
            )
        )
    if config.is_production:
        if "*" in config.cors_origins:
            problems.append(
                _Problem("corsOrigins", "'*' lets any web site call production: list the origins")
            )
        if any(o.startswith("http://") for o in config.cors_origins):
            problems.append(_Problem("corsOrigins", "production origins must use https://"))
    return problems


def _function_problems(config: StageConfig, project_dir: Path) -> list[_Problem]:
    problems: list[_Problem] = []
    routes: dict[str, list[str]] = {}
    for name, spec in config.functions.items():
        key = f"{FUNCTIONS_KEY}.{name}"
        if not FUNCTION_NAME.match(name):
            problems.append(
                _Problem(key, "a function name is lowercase letters, digits and '-' (at most 24)")
            )
        elif len(config.lambda_name(name)) > LAMBDA_NAME_MAX:
            problems.append(
                _Problem(key, f"ballast-<stack>-<name> must fit Lambda's {LAMBDA_NAME_MAX} characters")
            )
        where = spec.handler_file_problem(project_dir)
        if where:
            problems.append(_Problem(f"{key}.{'code' if spec.code else 'handler'}", where))
        problems += [
            _Problem(f"{key}.environment", problem)
            for problem in environment_problems(config.function_environment(spec))
        ]
        for route in spec.routes:
            routes.setdefault(route.key, []).append(name)
    for route_key, owners in routes.items():
        if len(owners) > 1:
            problems.append(
                _Problem(FUNCTIONS_KEY, f"route {route_key} is declared by {', '.join(owners)}: keep one")
            )
    try:
        config.allocations()
    except concurrency.BudgetError as error:
        problems += _budget_problems(config, error)
    return problems


def _budget_problems(config: StageConfig, error: concurrency.BudgetError) -> list[_Problem]:
    budget = (
        f"the stage's database budget is {error.budget} connections ({config.pooler_share} of the pooler's "
        f"server pool at {config.compute_min_cu} CU)"
    )
    problems: list[_Problem] = []
    if error.too_small:
        names = ", ".join(a.name for a in error.too_small)
        problems.append(
            _Problem(
                FUNCTIONS_KEY,
                f"{budget}, split by dbShare; {names} get less than one instance's pool: raise their "
                "dbShare, lower their poolMaxSize, or raise ballast:computeMinCu or ballast:poolerShare",
            )
        )
    for allocation in error.too_high:
        problems.append(
            _Problem(
                f"{FUNCTIONS_KEY}.{allocation.name}.reservedConcurrency",
                f"exceeds the {allocation.max_concurrency} its part of the budget allows "
                f"({allocation.connections} connections, pool of {allocation.pool_max_size}); {budget}",
            )
        )
    return problems


# Reading from Pulumi ---------------------------------------------------------------------------------------


def raw_stack_config(namespace: str = NAMESPACE) -> tuple[dict[str, Any], frozenset[str]]:
    """Every ``<namespace>:*`` value the engine handed the program, and which of them are secret."""
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{namespace}:"
    raw = {key.removeprefix(prefix): value for key, value in everything.items() if key.startswith(prefix)}
    secret = frozenset(key for key in raw if runtime_config.is_config_secret(f"{prefix}{key}"))
    return raw, secret


def read_stage_config(stack: str | None = None) -> StageConfig:
    """The current stack's :class:`StageConfig` (raises :class:`ConfigError`)."""
    raw, secret_keys = raw_stack_config()
    return load_stage_config(stack or pulumi.get_stack(), raw, secret_keys=secret_keys)


def read_environment(config: StageConfig, spec: FunctionSpec) -> Mapping[str, pulumi.Input[str]]:
    """The function's extra environment: each value secret when ``ballast:environment`` was set with
    --secret (the function's own ``environment`` is part of ``ballast:functions``: plain unless that is)."""
    environment = config.function_environment(spec)
    if not config.environment_is_secret:
        return environment
    return {name: pulumi.Output.secret(value) for name, value in environment.items()}
