"""``infra.config``: the stack config model, per-stage profiles, and its problems (all at once, each naming
its ``ballast:`` key and the fix, never a value)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pytest

from infra.config import (
    CREDENTIAL_KEYS,
    ConfigError,
    Profile,
    StageConfig,
    ballast_environment_names,
    load_stage_config,
    read_environment,
    settable_keys,
)
from tests.infra.program_harness import committed_config

SHARED = {"sentryOrganization": "acme", "sentryTeam": "platform"}


def load(stack: str, **values: Any) -> StageConfig:
    return load_stage_config(stack, {**SHARED, **values})


def problems_of(stack: str, raw: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_stage_config(stack, raw, secret_keys=secret_keys)
    assert caught.value.problems, "a ConfigError always lists its problems"
    return caught.value.problems


def ballast_only(stack: str) -> dict[str, str]:
    return {
        k.removeprefix("ballast:"): v for k, v in committed_config(stack).items() if k.startswith("ballast:")
    }


@pytest.mark.parametrize(
    ("stack", "profile", "memory", "retention", "min_cu", "max_cu", "concurrency", "protect"),
    [
        ("production", Profile.PRODUCTION, 1024, 90, 0.5, 2, 47, True),
        ("staging", Profile.STAGING, 512, 14, 0.25, 1, 23, False),
        ("qa", Profile.STAGING, 512, 14, 0.25, 1, 23, False),
        ("pr-123", Profile.PREVIEW, 256, 3, 0.25, 0.25, 23, False),
    ],
)
def test_each_profile_has_its_own_defaults(
    stack: str,
    profile: Profile,
    memory: int,
    retention: int,
    min_cu: float,
    max_cu: float,
    concurrency: int,
    protect: bool,
) -> None:
    config = load(stack)

    assert config.profile is profile
    assert (config.lambda_memory_mb, config.log_retention_days) == (memory, retention)
    assert (config.compute_min_cu, config.compute_max_cu) == (min_cu, max_cu)
    assert config.allocations()["health"].concurrency == concurrency  # alone: the whole budget
    assert config.protect is protect
    assert config.branch_name == f"ballast-{stack}"
    assert config.lambda_architecture == "arm64"


def test_production_runs_on_the_protected_default_branch_and_creates_the_project() -> None:
    config = load("production")

    assert config.neon_use_default_branch
    assert config.neon_protected_branch
    assert config.neon_project_id is None
    assert config.neon_project_stack is None
    assert config.preview_expires_at is None
    project = config.neon_project_args
    assert project is not None
    assert project.adopt_project_id is None
    assert project.history_retention_seconds >= 7 * 86400  # a week of point-in-time restore
    assert (project.region_id, project.pg_version) == ("aws-eu-central-1", 17)
    assert "7 days" in config.history_window


def test_production_adopts_a_project_by_id_and_keeps_managing_it() -> None:
    project = load("production", neonProjectId="shiny-wind-028834").neon_project_args
    assert project is not None
    assert project.adopt_project_id == "shiny-wind-028834"


def test_history_windows_per_profile_shrink_from_production_to_previews() -> None:
    windows = [load(stack).neon_history_retention_seconds for stack in ("production", "staging", "pr-9")]
    assert windows == sorted(windows, reverse=True)
    assert len(set(windows)) == 3
    assert windows[-1] <= 6 * 3600  # what every Neon plan (Free included) allows
    # Staging and previews use production's project, whose window they share: they declare none.
    for stack in ("staging", "pr-9"):
        config = load(stack)
        assert config.neon_project_args is None
        assert "set by stack production" in config.history_window
    assert load("staging", neonManageProject=True).neon_project_args is not None  # its own project


@pytest.mark.parametrize(
    ("values", "key", "fragment"),
    [
        ({"neonRegion": "Frankfurt"}, "neonRegion", "not a Neon region id"),
        ({"neonPgVersion": 13}, "neonPgVersion", "Neon runs Postgres"),
        ({"neonHistoryRetentionSeconds": 2592001}, "neonHistoryRetentionSeconds", "0 to 2592000"),
        ({"neonHistoryRetentionSeconds": -1}, "neonHistoryRetentionSeconds", "0 to 2592000"),
        (
            {"neonProjectStack": "other"},
            "neonProjectStack",
            "cannot be combined with ballast:neonManageProject",
        ),
        ({"neonManageProject": False}, "neonProjectStack", "name the Neon project"),
    ],
)
def test_neon_project_settings_are_refused_naming_the_key(
    values: dict[str, Any], key: str, fragment: str
) -> None:
    [problem] = problems_of("production", {**SHARED, **values})
    assert problem.startswith(f"ballast:{key}: "), problem
    assert fragment in problem, problem


def test_staging_and_previews_read_the_project_from_production_and_previews_branch_from_staging() -> None:
    staging, preview = load("staging"), load("pr-9")

    assert (staging.neon_project_stack, staging.neon_parent_stack) == ("production", None)
    assert (preview.neon_project_stack, preview.neon_parent_stack) == ("production", "staging")
    assert not staging.neon_use_default_branch
    assert not staging.neon_protected_branch


def test_a_preview_branch_expires_within_thirty_days_on_the_hour() -> None:
    expires_at = load("pr-9").preview_expires_at
    assert expires_at is not None
    when = datetime.fromisoformat(expires_at)
    now = datetime.now(UTC)

    assert now + timedelta(days=6) < when <= now + timedelta(days=7)
    assert (when.minute, when.second) == (0, 0)
    assert "previewExpiryDays" in problems_of("pr-9", {**SHARED, "previewExpiryDays": 31})[0]


@pytest.mark.parametrize("stack", ["production", "staging", "pr-7"])
def test_the_committed_stack_files_are_valid(stack: str) -> None:
    config = load_stage_config(stack, ballast_only(stack))

    assert config.stack == stack
    assert config.sentry_organization
    assert config.sentry_team


def test_the_committed_production_file_spells_out_the_production_profile() -> None:
    # Every value in Pulumi.production.yaml equals the production profile's default, so a review of that
    # file shows what production runs — and the two cannot drift apart unnoticed.
    committed = ballast_only("production")
    explicit = load_stage_config("production", committed)
    project_wide = (
        *SHARED,
        "migrationsDir",
        "restoreDrill",
        "functions",
    )  # Pulumi.yaml's values, not the profile's
    defaults = load_stage_config("production", {k: committed[k] for k in project_wide if k in committed})
    shown = {"environment", "alarm_subscribers"}  # deployment values, not profile defaults

    assert explicit.model_dump(exclude=shown) == defaults.model_dump(exclude=shown)


def test_a_custom_production_stack_name_gets_the_production_profile() -> None:
    config = load("prod-eu", productionStacks='["production", "prod-eu"]')

    assert config.is_production
    assert config.production_stacks == ("production", "prod-eu")


def test_cli_strings_are_parsed() -> None:
    config = load(
        "staging",
        lambdaMemoryMb="2048",
        computeMaxCu="2",
        protect="true",
        corsOrigins='["https://app.example.com"]',
        environment='{"FEATURE_X_ENABLED": true, "RETRIES": 3}',
    )

    assert (config.lambda_memory_mb, config.compute_max_cu, config.protect) == (2048, 2.0, True)
    assert config.cors_origins == ("https://app.example.com",)
    assert config.environment == {"FEATURE_X_ENABLED": "true", "RETRIES": "3"}


def test_every_problem_is_listed_at_once_each_naming_its_key_and_a_fix() -> None:
    problems = problems_of(
        "production",
        {
            "sentryOrganization": "acme",
            "lambdaMemoryMb": "lots",
            "lambdaArchitecture": "sparc",
            "logRetentionDays": 8,
            "computeMinCu": 0.1,
            "poolMaxSize": 31,
            "lambdaTimeoutSeconds": 901,
            "secretRecoveryWindowDays": 3,
        },
    )
    keys = [
        "sentryTeam",
        "lambdaMemoryMb",
        "lambdaArchitecture",
        "logRetentionDays",
        "computeMinCu",
        "poolMaxSize",
        "lambdaTimeoutSeconds",
        "secretRecoveryWindowDays",
    ]

    assert len(problems) == len(keys)
    for key in keys:
        [problem] = [p for p in problems if p.startswith(f"ballast:{key}:")]
        assert "expected:" in problem or "pulumi config set" in problem, problem


def test_cross_field_problems_are_listed_together() -> None:
    problems = problems_of(
        "staging",
        {
            **SHARED,
            "computeMinCu": 1,
            "computeMaxCu": 0.5,
            "functions": {"health": {"handler": "runtime.handler.handle", "reservedConcurrency": 5000}},
            "previewExpiryDays": 3,
        },
    )
    text = "\n".join(problems)

    assert "ballast:computeMaxCu: must not be below autoscaling_min_cu" in text
    assert "ballast:functions.health.reservedConcurrency: exceeds the" in text
    assert "ballast:previewExpiryDays: only preview stacks" in text
    assert len(problems) == 3


def test_neon_limits_max_cu_and_spread() -> None:
    assert (
        "ballast:computeMaxCu: is not a Neon autoscaling size"
        in problems_of("staging", {**SHARED, "computeMaxCu": 20})[0]
    )
    assert (
        "more than 8 CU above"
        in problems_of("staging", {**SHARED, "computeMinCu": 0.5, "computeMaxCu": 10})[0]
    )


def test_a_reserved_concurrency_override_may_only_lower_the_derived_value() -> None:
    def health(reserved: int) -> dict[str, Any]:
        return {
            "functions": {"health": {"handler": "runtime.handler.handle", "reservedConcurrency": reserved}}
        }

    assert load("staging", **health(10)).allocations()["health"].concurrency == 10
    assert load("staging", **health(23)).allocations()["health"].concurrency == 23
    [problem] = problems_of("staging", {**SHARED, **health(24)})
    assert problem.startswith("ballast:functions.health.reservedConcurrency: exceeds the 23")


def test_unknown_keys_are_named_with_a_suggestion() -> None:
    [problem] = problems_of("staging", {**SHARED, "lambdaMemroyMb": 512})

    assert problem.startswith("ballast:lambdaMemroyMb: is not a Ballast setting")
    assert "did you mean ballast:lambdaMemoryMb?" in problem


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("DATABASE_URL", "set by Ballast itself"),
        ("BALLAST_STAGE", "set by Ballast itself"),
        ("SENTRY_DSN", "set by Ballast itself"),
        ("DB_POOL_MAX_SIZE", "set by Ballast itself"),
        ("AWS_REGION", "reserved by AWS Lambda"),
        ("AWS_SECRET_ACCESS_KEY", "reserved by AWS Lambda"),
        ("LAMBDA_TASK_ROOT", "reserved by AWS Lambda"),
        ("_HANDLER", "reserved by AWS Lambda"),
        ("TZ", "reserved by AWS Lambda"),
        ("1BAD", "starts with a letter"),
        ("with-dash", "starts with a letter"),
    ],
)
def test_environment_names_that_collide_or_are_invalid_are_refused(name: str, reason: str) -> None:
    [problem] = problems_of("staging", {**SHARED, "environment": {name: "x", "FEATURE_OK_ENABLED": "true"}})

    assert problem.startswith("ballast:environment:")
    assert reason in problem


def test_reserved_names_come_from_runtime_constants() -> None:
    names = ballast_environment_names()

    assert {"DATABASE_URL", "DATABASE_URL_UNPOOLED", "APP_SECRET", "SENTRY_RELEASE", "LOG_LEVEL"} <= names
    assert not any(name.startswith("FEATURE_") for name in names)  # feature flags stay the team's


def test_an_oversized_environment_is_refused() -> None:
    [problem] = problems_of("staging", {**SHARED, "environment": {"BIG": "x" * 3000}})

    assert "ballast:environment: holds 3003 bytes" in problem


def test_no_problem_echoes_a_value() -> None:
    planted = "planted-Value-9Zq"
    raw = {
        **SHARED,
        "lambdaMemoryMb": planted,
        "logLevel": planted,
        "corsOrigins": [f"https://{planted}.example.com/path"],
        "neonProjectId": f"UPPER-{planted}",
        "environment": {"AWS_X": planted, "OK": 5},
        "neonApiKey": planted,  # plain text: refused by name
    }
    problems = problems_of("staging", raw)

    assert len(problems) == 6
    assert not [p for p in problems if planted in p]


def test_credentials_must_be_secret_config_and_never_enter_the_model() -> None:
    token = "napi_plain_text_key_0123456789"
    [problem] = problems_of("staging", {**SHARED, "neonApiKey": token})
    assert problem.startswith("ballast:neonApiKey: is stored in plain text")
    assert "pulumi config set --secret ballast:neonApiKey" in problem
    assert token not in problem

    config = load_stage_config(
        "staging",
        {**SHARED, "neonApiKey": token, "sentryAuthToken": token},
        secret_keys=frozenset(CREDENTIAL_KEYS),
    )
    assert token not in config.model_dump_json()
    assert not set(CREDENTIAL_KEYS) & settable_keys()


def test_production_refuses_any_origin_and_plain_http() -> None:
    problems = problems_of("production", {**SHARED, "corsOrigins": ["*", "http://app.example.com"]})

    assert any("'*' lets any web site call production" in p for p in problems)
    assert any("must use https://" in p for p in problems)
    assert load("pr-4", corsOrigins=["*"]).cors_origins == ("*",)


def test_stack_names_must_suit_every_resource_name() -> None:
    [problem] = problems_of("Staging_EU", SHARED)

    assert problem.startswith("stack name 'Staging_EU'")


def test_a_secret_environment_reaches_the_function_as_secret_outputs() -> None:
    plain = load("staging", environment={"FEATURE_X_ENABLED": "true"})
    secret = load_stage_config(
        "staging",
        {**SHARED, "environment": '{"WEBHOOK_TOKEN": "t0ken"}'},
        secret_keys=frozenset({"environment"}),
    )

    assert read_environment(plain, plain.functions["health"]) == {"FEATURE_X_ENABLED": "true"}
    values = read_environment(secret, secret.functions["health"])
    assert list(values) == ["WEBHOOK_TOKEN"]
    assert all(isinstance(v, pulumi.Output) for v in values.values())


def test_migrations_dir_and_restore_drill_settings() -> None:
    config = load("staging")
    assert config.migrations_dir == "app/migrations"
    assert config.restore_drill.tables == {}
    drill = json.dumps(
        {
            "tables": {"items": 2, "audit.events": 0},
            "checks": ["SELECT true"],
            "freshnessColumn": "items.created_at",
        }
    )
    config = load("staging", restoreDrill=drill, migrationsDir="db/migrations")
    assert config.restore_drill.tables == {"items": 2, "audit.events": 0}
    assert config.restore_drill.freshness_column == "items.created_at"
    assert config.migrations_dir == "db/migrations"
    problems = problems_of(
        "staging",
        {
            **SHARED,
            "migrationsDir": "../elsewhere",
            "restoreDrill": '{"tables": {"items; drop": -1}, "x": 1}',
        },
    )
    text = " ".join(problems)
    assert "ballast:migrationsDir" in text
    assert "ballast:restoreDrill.tables" in text
    assert "ballast:restoreDrill.x" in text
