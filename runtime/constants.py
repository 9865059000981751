"""Every environment variable the runtime reads, named once (the infra program sets the same names), and
every limit and default behind them (settings validate against these; pool, health and Sentry import them)."""

from __future__ import annotations

# Stage: its name (the Pulumi stack) and its profile (what kind of stage: only production is strict)
BALLAST_STAGE = "BALLAST_STAGE"
BALLAST_PROFILE = "BALLAST_PROFILE"
DEFAULT_STAGE = "development"
PRODUCTION_STAGE = "production"
PRODUCTION_PROFILE = "production"
# A stage is named after its Pulumi stack: the infra program validates stack names with this same pattern.
STAGE_NAME_PATTERN = r"[a-z][a-z0-9-]{0,39}"
PREVIEW_STAGE_PATTERN = r"pr-[0-9]+"  # a pull request's short-lived stack

# Database (Neon: pooled URL through the PgBouncer pooler for functions, direct URL for migrations)
DATABASE_URL = "DATABASE_URL"
DATABASE_URL_UNPOOLED = "DATABASE_URL_UNPOOLED"
# The schema the code was deployed against (the last migration id); set by the program, after migrating
BALLAST_SCHEMA_VERSION = "BALLAST_SCHEMA_VERSION"
DB_POOL_MIN_SIZE = "DB_POOL_MIN_SIZE"
DB_POOL_MAX_SIZE = "DB_POOL_MAX_SIZE"
DB_POOL_TIMEOUT_SECONDS = "DB_POOL_TIMEOUT_SECONDS"
DB_CONNECT_TIMEOUT_SECONDS = "DB_CONNECT_TIMEOUT_SECONDS"
DB_MAX_IDLE_SECONDS = "DB_MAX_IDLE_SECONDS"
HEALTH_CHECK_TIMEOUT_SECONDS = "HEALTH_CHECK_TIMEOUT_SECONDS"

# Secrets and app
APP_SECRET = "APP_SECRET"
LOG_LEVEL = "LOG_LEVEL"
CORS_ORIGINS = "CORS_ORIGINS"
# Powertools' development mode puts tracebacks into error responses: refused in production. Named apart
# from its value so `ballast:environment` may still set it (names equal to values are the program's own).
POWERTOOLS_DEV_VARIABLE = "POWERTOOLS_DEV"
POWERTOOLS_TRUE_VALUES = frozenset({"1", "y", "yes", "t", "true", "on"})  # its strtobool's truths
FEATURE_PREFIX = "FEATURE_"
FEATURE_SUFFIX = "_ENABLED"

# Sentry
SENTRY_DSN = "SENTRY_DSN"
SENTRY_RELEASE = "SENTRY_RELEASE"
SENTRY_SAMPLE_RATE = "SENTRY_SAMPLE_RATE"
SENTRY_TRACES_SAMPLE_RATE = "SENTRY_TRACES_SAMPLE_RATE"
SENTRY_FLUSH_TIMEOUT_SECONDS = "SENTRY_FLUSH_TIMEOUT_SECONDS"

# Set by AWS Lambda itself
AWS_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"

# Control plane (infra providers): credentials read at call time, never stored in Pulumi state in plain text
NEON_API_KEY = "NEON_API_KEY"
SENTRY_AUTH_TOKEN = "SENTRY_AUTH_TOKEN"

# Set by AWS Lambda itself: the published version ("$LATEST" when unpublished); Sentry's release fallback
AWS_LAMBDA_FUNCTION_VERSION = "AWS_LAMBDA_FUNCTION_VERSION"

# --- limits and defaults (one definition each; settings.py validates against them) -----------------------
# Pool: Neon's pooler allows many clients, but each Lambda instance stays a good citizen.
DEFAULT_POOL_MAX_SIZE = 20
MAX_POOL_SIZE = 30
LAMBDA_MAX_MIN_SIZE = 1  # a Lambda instance serves one request at a time: keep at most one warm connection
DEFAULT_POOL_TIMEOUT_SECONDS = 5.0  # how long a request queues for a free connection
MAX_POOL_TIMEOUT_SECONDS = 60.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5
MAX_CONNECT_TIMEOUT_SECONDS = 60
DEFAULT_MAX_IDLE_SECONDS = 60.0  # an idle pooled connection is closed after this long
MAX_MAX_IDLE_SECONDS = 3600.0
DEFAULT_MAX_LIFETIME_SECONDS = 1800.0
# Bound on a database call made outside any invocation and without an explicit timeout (scripts, a REPL).
DEFAULT_DATABASE_DEADLINE_SECONDS = 30.0
# Health: the readiness check's own deadline.
DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS = 2.0
MAX_HEALTH_CHECK_TIMEOUT_SECONDS = 30.0
# Sentry: one bounded flush per response.
DEFAULT_SENTRY_FLUSH_TIMEOUT_SECONDS = 2.0
MAX_SENTRY_FLUSH_TIMEOUT_SECONDS = 5.0
# A Lambda invocation's database calls give up this long (plus the Sentry flush bound) before its timeout, so
# the 503 and its Sentry event still leave in time.
ANSWER_MARGIN_SECONDS = 0.5
