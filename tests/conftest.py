"""Shared pytest fixtures: each owner appends its own block (fixtures live in tests/fixtures/)."""

from __future__ import annotations

# --- scratch databases on the real PostgreSQL (lifecycle: tests/fixtures/databases.py) ---
from tests.fixtures.databases import scratch_database  # noqa: F401 - fixtures are found by name

# --- fake Neon and Sentry control-plane APIs on 127.0.0.1 (engineer D: tests/fixtures/fake_*.py) ---
from tests.fixtures.fake_neon import fake_neon  # noqa: F401 - fixtures are found by name
from tests.fixtures.fake_sentry import fake_sentry  # noqa: F401

# --- Sentry: envelope sink and a real Bugsink (engineer B: tests/fixtures/sentry_sink.py, sentry_bugsink.py)
from tests.fixtures.sentry_bugsink import bugsink  # noqa: F401 - fixtures are found by name
from tests.fixtures.sentry_sink import (  # noqa: F401 - fixtures are found by name
    clean_sentry,
    sentry_sink,
    sentry_sink_factory,
)

# --- real PostgreSQL 15 + PgBouncer, once per session (engineer C: tests/fixtures/services.py) ---
from tests.fixtures.services import (  # noqa: F401 - fixtures are found by name
    direct_url,
    local_stage,
    pgbouncer_down,
    pgbouncer_server,
    pooled_url,
    postgres_down,
    postgres_server,
    report_bound,
    services,
    stage_env,
)
