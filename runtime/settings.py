"""The runtime's environment, validated once: one schema for every variable a function reads.

Only the ``production`` profile is strict: every problem is collected and ``SettingsError`` lists them all,
so the process refuses to start. The profile is ``BALLAST_PROFILE`` (the Pulumi program sets it from the
stack's profile, so a production stack may have any name), else read from the stage name: ``production`` →
production, ``pr-<n>`` → preview, ``development`` → development, any other name → staging.
Elsewhere a missing sensitive variable is a warning and the function runs; a value
that is present but malformed is an error in every stage (it would fail later, less clearly).

No message, warning or exception carries a value: pydantic's own errors (which echo ``input_value`` and URL
passwords) are turned into ``Problem``s that name the variable, what is wrong and how to fix it.
Precedence: an explicit ``env`` mapping replaces the process environment; an explicit ``stage`` beats
``BALLAST_STAGE`` and an explicit ``profile`` beats ``BALLAST_PROFILE``.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runtime import constants
from runtime.loopback import find_loopback

STAGE_NAME = re.compile(constants.STAGE_NAME_PATTERN)
PREVIEW_STAGE = re.compile(constants.PREVIEW_STAGE_PATTERN)
Profile = Literal["development", "staging", "preview", "production"]
PROFILES: tuple[Profile, ...] = ("development", "staging", "preview", "production")
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})
MIN_APP_SECRET_LENGTH = 32
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


@dataclass(frozen=True)
class StageDefaults:
    """What differs by stage, as data."""

    sentry_sample_rate: float
    sentry_traces_sample_rate: float
    log_level: LogLevel


STAGE_DEFAULTS: dict[str, StageDefaults] = {
    "production": StageDefaults(sentry_sample_rate=1.0, sentry_traces_sample_rate=0.1, log_level="INFO"),
    "other": StageDefaults(sentry_sample_rate=1.0, sentry_traces_sample_rate=1.0, log_level="DEBUG"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the environment: the variable, what is wrong, how to fix it. Never a value."""

    variable: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message} — {self.fix}"


class SettingsError(Exception):
    """The environment is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem], stage: str) -> None:
        self.problems = problems
        self.stage = stage
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid environment for stage {stage!r} ({len(problems)} problem(s)):\n{lines}")


def _env(name: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Every variable the runtime reads (names in ``runtime.constants``); secrets are ``SecretStr``."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", hide_input_in_errors=True)

    stage: str = Field(
        default=constants.DEFAULT_STAGE, validation_alias=AliasChoices(constants.BALLAST_STAGE)
    )
    profile: Profile = Field(default="development", validation_alias=AliasChoices(constants.BALLAST_PROFILE))
    database_url: SecretStr | None = _env(constants.DATABASE_URL)
    database_url_unpooled: SecretStr | None = _env(constants.DATABASE_URL_UNPOOLED)
    app_secret: SecretStr | None = _env(constants.APP_SECRET)
    sentry_dsn: SecretStr | None = _env(constants.SENTRY_DSN)
    sentry_release: str | None = _env(constants.SENTRY_RELEASE)
    sentry_sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, validation_alias=AliasChoices(constants.SENTRY_SAMPLE_RATE)
    )
    sentry_traces_sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, validation_alias=AliasChoices(constants.SENTRY_TRACES_SAMPLE_RATE)
    )
    sentry_flush_timeout_seconds: float = Field(
        default=constants.DEFAULT_SENTRY_FLUSH_TIMEOUT_SECONDS,
        gt=0.0,
        le=constants.MAX_SENTRY_FLUSH_TIMEOUT_SECONDS,
        validation_alias=AliasChoices(constants.SENTRY_FLUSH_TIMEOUT_SECONDS),
    )
    db_pool_min_size: int = Field(
        default=0, ge=0, le=constants.MAX_POOL_SIZE, validation_alias=constants.DB_POOL_MIN_SIZE
    )
    db_pool_max_size: int = Field(
        default=constants.DEFAULT_POOL_MAX_SIZE,
        ge=1,
        le=constants.MAX_POOL_SIZE,
        validation_alias=constants.DB_POOL_MAX_SIZE,
    )
    db_pool_timeout_seconds: float = Field(
        default=constants.DEFAULT_POOL_TIMEOUT_SECONDS,
        gt=0.0,
        le=constants.MAX_POOL_TIMEOUT_SECONDS,
        validation_alias=constants.DB_POOL_TIMEOUT_SECONDS,
    )
    db_connect_timeout_seconds: int = Field(
        default=constants.DEFAULT_CONNECT_TIMEOUT_SECONDS,
        ge=1,
        le=constants.MAX_CONNECT_TIMEOUT_SECONDS,
        validation_alias=constants.DB_CONNECT_TIMEOUT_SECONDS,
    )
    db_max_idle_seconds: float = Field(
        default=constants.DEFAULT_MAX_IDLE_SECONDS,
        gt=0.0,
        le=constants.MAX_MAX_IDLE_SECONDS,
        validation_alias=constants.DB_MAX_IDLE_SECONDS,
    )
    health_check_timeout_seconds: float = Field(
        default=constants.DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
        gt=0.0,
        le=constants.MAX_HEALTH_CHECK_TIMEOUT_SECONDS,
        validation_alias=constants.HEALTH_CHECK_TIMEOUT_SECONDS,
    )
    log_level: LogLevel = Field(default="INFO", validation_alias=constants.LOG_LEVEL)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=constants.CORS_ORIGINS
    )
    powertools_dev: str | None = Field(default=None, validation_alias=constants.POWERTOOLS_DEV_VARIABLE)

    @model_validator(mode="before")
    @classmethod
    def _stage_defaults(cls, data: object) -> object:
        """Fill what the environment leaves unset from the stage's defaults (data, not ifs)."""
        if not isinstance(data, dict):
            return data
        profile = data.get(constants.BALLAST_PROFILE)
        defaults = STAGE_DEFAULTS["production" if profile == constants.PRODUCTION_PROFILE else "other"]
        return {
            constants.SENTRY_SAMPLE_RATE: defaults.sentry_sample_rate,
            constants.SENTRY_TRACES_SAMPLE_RATE: defaults.sentry_traces_sample_rate,
            constants.LOG_LEVEL: defaults.log_level,
            **data,
        }

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def is_production(self) -> bool:
        return self.profile == constants.PRODUCTION_PROFILE


def profile_of(stage: str) -> Profile:
    """The profile a stage's name implies when ``BALLAST_PROFILE`` is not set."""
    if stage == constants.PRODUCTION_STAGE:
        return "production"
    if stage == constants.DEFAULT_STAGE:
        return "development"
    return "preview" if PREVIEW_STAGE.fullmatch(stage) else "staging"


# The Settings field behind each variable name, for turning pydantic's errors into Problems.
def _variable_of(alias: object) -> str:
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias)


_FIELD_TO_VARIABLE: dict[str, str] = {
    name: _variable_of(field.validation_alias) for name, field in Settings.model_fields.items()
}
VARIABLES: tuple[str, ...] = tuple(_FIELD_TO_VARIABLE.values())
_SENSITIVE_REQUIRED = (constants.DATABASE_URL, constants.SENTRY_DSN, constants.APP_SECRET)
_URL_VARIABLES = (constants.DATABASE_URL, constants.DATABASE_URL_UNPOOLED, constants.SENTRY_DSN)


def load_settings(
    env: Mapping[str, str] | None = None, *, stage: str | None = None, profile: str | None = None
) -> Settings:
    """Validate ``env`` (default: the process environment) for ``stage`` (default: ``BALLAST_STAGE``) and
    ``profile`` (default: ``BALLAST_PROFILE`` unless ``stage`` is given, else implied by the stage's name)."""
    source = dict(os.environ if env is None else env)
    chosen_stage = stage or source.get(constants.BALLAST_STAGE) or constants.DEFAULT_STAGE
    # An explicit stage brings its implied profile: `--stage production` must not inherit a lenient one.
    chosen_profile = (
        profile or (None if stage else source.get(constants.BALLAST_PROFILE)) or profile_of(chosen_stage)
    )
    naming: list[Problem] = []
    if not STAGE_NAME.fullmatch(chosen_stage):
        naming.append(
            Problem(
                constants.BALLAST_STAGE,
                "is not a stage name",
                "use the Pulumi stack's name: lowercase letters, digits and '-' (at most 40), e.g. staging",
            )
        )
    if chosen_profile not in PROFILES:
        naming.append(
            Problem(constants.BALLAST_PROFILE, "is not a profile", f"use one of {', '.join(PROFILES)}")
        )
    if naming:
        raise SettingsError(naming, stage="unknown")
    source[constants.BALLAST_PROFILE] = chosen_profile
    source[constants.BALLAST_STAGE] = chosen_stage
    raw = {name: source[name] for name in VARIABLES if name in source and source[name] != ""}
    type_problems: list[Problem] = []
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        # Report every problem at once: drop the malformed variables and check the rest too.
        type_problems = _problems_from(error)
        malformed = {problem.variable for problem in type_problems}
        settings = Settings.model_validate({k: v for k, v in raw.items() if k not in malformed})
    problems, missing = _check(settings)
    if type_problems or problems or (missing and settings.is_production):
        raise SettingsError(
            type_problems + problems + (missing if settings.is_production else []), chosen_stage
        )
    for problem in missing:
        warnings.warn(f"{problem} (required in production)", RuntimeWarning, stacklevel=2)
    return settings


def _problems_from(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        variable = _FIELD_TO_VARIABLE.get(field, field)
        # pydantic's ``msg`` names the constraint ("should be less than or equal to 30"), not the input.
        problems.append(
            Problem(variable, item["msg"].lower(), f"set {variable} to a valid value (see .env.example)")
        )
    return problems


def _check(settings: Settings) -> tuple[list[Problem], list[Problem]]:
    """(problems with present values, missing sensitive variables)."""
    problems: list[Problem] = []
    missing: list[Problem] = []
    values = {
        constants.DATABASE_URL: settings.database_url,
        constants.DATABASE_URL_UNPOOLED: settings.database_url_unpooled,
        constants.SENTRY_DSN: settings.sentry_dsn,
    }
    for variable in _URL_VARIABLES:
        secret = values[variable]
        if secret is None:
            continue
        problem = _url_problem(variable, secret.get_secret_value())
        if problem:
            problems.append(problem)
        elif settings.is_production and find_loopback(secret.get_secret_value()) is not None:
            problems.append(
                Problem(variable, "points at the local machine", "use the stage's real host (Neon / Sentry)")
            )
    if (
        settings.app_secret is not None
        and len(settings.app_secret.get_secret_value()) < MIN_APP_SECRET_LENGTH
    ):
        problems.append(
            Problem(
                constants.APP_SECRET,
                f"is shorter than {MIN_APP_SECRET_LENGTH} characters",
                "use the secret generated per stage by the Pulumi program (or `openssl rand -hex 32`)",
            )
        )
    if settings.db_pool_min_size > settings.db_pool_max_size:
        problems.append(
            Problem(
                constants.DB_POOL_MIN_SIZE, "is larger than DB_POOL_MAX_SIZE", "lower it to at most the max"
            )
        )
    problems.extend(_cors_problems(settings))
    if (
        settings.is_production
        and (settings.powertools_dev or "").strip().lower() in constants.POWERTOOLS_TRUE_VALUES
    ):
        problems.append(
            Problem(
                constants.POWERTOOLS_DEV_VARIABLE,
                "turns on Powertools' development mode (tracebacks in error responses)",
                "unset it in production",
            )
        )
    present = {
        constants.DATABASE_URL: settings.database_url,
        constants.SENTRY_DSN: settings.sentry_dsn,
        constants.APP_SECRET: settings.app_secret,
    }
    for variable in _SENSITIVE_REQUIRED:
        if present[variable] is None:
            missing.append(
                Problem(variable, "is not set", "set it (the Pulumi program sets it for each stage)")
            )
    return problems, missing


def _url_problem(variable: str, value: str) -> Problem | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if variable == constants.SENTRY_DSN:
        if (
            parts is None
            or parts.scheme not in {"http", "https"}
            or not parts.username
            or not parts.path.strip("/")
        ):
            return Problem(
                variable, "is not a Sentry DSN", "copy the DSN from the project's Client Keys page"
            )
        return None
    if parts is None or parts.scheme not in POSTGRES_SCHEMES:
        return Problem(
            variable, "is not a postgresql:// URL", "use the connection string Neon gives for the branch"
        )
    return None


def _cors_problems(settings: Settings) -> list[Problem]:
    if not settings.is_production:
        return []
    problems = []
    for origin in settings.cors_origins:
        if origin == "*" or not origin.startswith("https://"):
            problems.append(
                Problem(
                    constants.CORS_ORIGINS,
                    "allows a non-HTTPS or wildcard origin",
                    "list https:// origins only",
                )
            )
        elif find_loopback(origin) is not None:
            problems.append(Problem(constants.CORS_ORIGINS, "lists a local-machine origin", "remove it"))
    return problems


_cached: Settings | None = None
_lock = threading.Lock()


def get_settings() -> Settings:
    """The process's settings, validated on first use (failures are not cached: they are raised again)."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                _cached = load_settings()
    return _cached


def reset_settings() -> None:
    """Forget the cached settings (tests, or after changing the environment)."""
    global _cached
    with _lock:
        _cached = None
