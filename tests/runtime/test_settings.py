from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import pytest

from runtime import constants
from runtime.settings import VARIABLES, Settings, SettingsError, get_settings, load_settings, reset_settings

DB_PASSWORD = "pw-Zq81-never-print"
APP_SECRET = "app-secret-value-that-must-never-print-0123456789"
DSN_KEY = "dsnpublickey0123456789abcdef"
VALID_PRODUCTION = {
    constants.BALLAST_STAGE: "production",
    constants.DATABASE_URL: f"postgresql://app:{DB_PASSWORD}@ep-x-123-pooler.us-east-2.aws.neon.tech/app",
    constants.DATABASE_URL_UNPOOLED: f"postgresql://app:{DB_PASSWORD}@ep-x-123.us-east-2.aws.neon.tech/app",
    constants.APP_SECRET: APP_SECRET,
    constants.SENTRY_DSN: f"https://{DSN_KEY}@o1.ingest.sentry.io/42",
    constants.CORS_ORIGINS: "https://app.example.com",
}
PLANTED = (DB_PASSWORD, APP_SECRET, DSN_KEY)


def broken(**changes: str | None) -> dict[str, str]:
    env = dict(VALID_PRODUCTION)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def problems_of(env: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    return raised.value


def assert_no_planted_value(text: str) -> None:
    for secret in PLANTED:
        assert secret not in text


def test_a_valid_production_environment_loads_with_production_defaults() -> None:
    settings = load_settings(VALID_PRODUCTION)
    assert settings.is_production
    assert settings.sentry_traces_sample_rate == 0.1
    assert settings.db_pool_max_size == 20
    assert settings.cors_origins == ["https://app.example.com"]


def test_development_defaults_sample_everything() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings = load_settings({})
    assert settings.stage == "development"
    assert settings.sentry_traces_sample_rate == 1.0


def test_production_lists_every_problem_at_once_and_no_value() -> None:
    env = broken(
        DATABASE_URL=f"postgresql://app:{DB_PASSWORD}@localhost:5432/app",
        APP_SECRET="short",
        SENTRY_DSN=None,
        DB_POOL_MAX_SIZE="31",
        CORS_ORIGINS="http://app.example.com",
    )
    error = problems_of(env)
    named = [problem.variable for problem in error.problems]
    assert named == [
        constants.DB_POOL_MAX_SIZE,
        constants.DATABASE_URL,
        constants.APP_SECRET,
        constants.CORS_ORIGINS,
        constants.SENTRY_DSN,
    ]
    assert_no_planted_value(str(error))
    assert "short" not in str(error).replace("shorter", "")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (constants.DATABASE_URL, f"mysql://app:{DB_PASSWORD}@db.example.com/app"),
        (constants.DATABASE_URL, f"postgresql://app:{DB_PASSWORD}@127.1/app"),
        (constants.DATABASE_URL_UNPOOLED, f"host=localhost password={DB_PASSWORD}"),
        (constants.SENTRY_DSN, f"https://{DSN_KEY}@[::1]/1"),
        (constants.SENTRY_DSN, "not-a-dsn"),
        (constants.APP_SECRET, "x" * 31),
        (constants.DB_POOL_MAX_SIZE, "0"),
        (constants.DB_POOL_TIMEOUT_SECONDS, "-1"),
        (constants.SENTRY_TRACES_SAMPLE_RATE, "1.5"),
        (constants.LOG_LEVEL, "chatty"),
        (constants.CORS_ORIGINS, "*"),
        (constants.CORS_ORIGINS, "https://localhost:3000"),
        (constants.BALLAST_STAGE, "QA env"),
        (constants.BALLAST_PROFILE, "live"),
    ],
)
def test_one_broken_variable_is_named_and_its_value_is_not(variable: str, value: str) -> None:
    error = problems_of(broken(**{variable: value}))
    assert [problem.variable for problem in error.problems] == [variable]
    assert value not in str(error)
    assert_no_planted_value(str(error))


def test_pydantic_errors_never_echo_the_input() -> None:
    error = problems_of(broken(DB_POOL_MAX_SIZE=f"{DB_PASSWORD}"))
    assert "input_value" not in str(error)
    assert DB_PASSWORD not in str(error)


def test_development_warns_for_missing_secrets_and_runs() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = load_settings({constants.BALLAST_STAGE: "development"})
    assert settings.database_url is None
    warned = " ".join(str(warning.message) for warning in caught)
    for variable in (constants.DATABASE_URL, constants.SENTRY_DSN, constants.APP_SECRET):
        assert variable in warned


def test_development_allows_localhost() -> None:
    env = broken(BALLAST_STAGE="development", DATABASE_URL="postgresql://app:pw@127.0.0.1:6432/app")
    assert load_settings(env).database_url is not None


def test_malformed_values_fail_in_every_stage() -> None:
    with pytest.raises(SettingsError):
        load_settings({constants.BALLAST_STAGE: "staging", constants.DB_POOL_MAX_SIZE: "many"})


def test_explicit_stage_beats_the_environment() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings = load_settings({constants.BALLAST_STAGE: "production"}, stage="pr-12")
    assert settings.stage == "pr-12"


def test_a_production_stack_of_any_name_is_strict() -> None:
    """The Pulumi program sets BALLAST_PROFILE from the stack's profile (`ballast:productionStacks`)."""
    env = {**VALID_PRODUCTION, constants.BALLAST_STAGE: "prod-eu", constants.BALLAST_PROFILE: "production"}
    assert load_settings(env).is_production
    del env[constants.SENTRY_DSN]
    with pytest.raises(SettingsError, match=constants.SENTRY_DSN):
        load_settings(env)


@pytest.mark.parametrize(
    ("stage", "profile"),
    [("production", "production"), ("pr-12", "preview"), ("development", "development"), ("qa", "staging")],
)
def test_without_a_profile_the_stage_name_implies_it(stage: str, profile: str) -> None:
    env = {**VALID_PRODUCTION, constants.BALLAST_STAGE: stage}
    settings = load_settings(env)
    assert (settings.stage, settings.profile) == (stage, profile)
    assert settings.is_production is (profile == "production")


def test_repr_and_logs_hide_secrets(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(VALID_PRODUCTION)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %r / %s", settings, settings)
    assert_no_planted_value(repr(settings))
    assert_no_planted_value(caplog.text)


def test_get_settings_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in VALID_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    try:
        first = get_settings()
        monkeypatch.setenv(constants.DB_POOL_MAX_SIZE, "7")
        assert get_settings() is first
        reset_settings()
        assert get_settings().db_pool_max_size == 7
    finally:
        reset_settings()


def test_env_example_documents_exactly_the_schema() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    flags = {name for name in documented if name.startswith("FEATURE_") and name.endswith("_ENABLED")}
    assert documented - flags == set(VARIABLES)
    assert flags, "the FEATURE_<NAME>_ENABLED pattern is documented by one example"
    lines = example.splitlines()
    for name in VARIABLES:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}="))
        block = []
        while index > 0 and lines[index - 1].strip():
            index -= 1
            block.append(lines[index])
        assert any(line.startswith("#") for line in block), f"{name} has no comment above it"


def test_every_settings_field_reads_a_named_constant() -> None:
    names = {value for key, value in vars(constants).items() if key.isupper() and isinstance(value, str)}
    assert set(VARIABLES) <= names
    assert len(VARIABLES) == len(Settings.model_fields)


@pytest.mark.parametrize("value", ["true", "1", "YES", " on "])
def test_production_refuses_powertools_development_mode(value: str) -> None:
    error = problems_of(broken(**{constants.POWERTOOLS_DEV_VARIABLE: value}))
    assert [problem.variable for problem in error.problems] == [constants.POWERTOOLS_DEV_VARIABLE]


@pytest.mark.parametrize(
    ("profile_env", "value"),
    [({}, "false"), ({}, ""), ({constants.BALLAST_STAGE: "staging"}, "true")],
)
def test_powertools_development_mode_is_allowed_off_or_outside_production(
    profile_env: dict[str, str], value: str
) -> None:
    env = {**VALID_PRODUCTION, **profile_env, constants.POWERTOOLS_DEV_VARIABLE: value}
    assert (load_settings(env).powertools_dev or "") == value  # an empty variable reads as unset
