"""Shared pytest fixtures: each owner appends its own block (fixtures live in tests/fixtures/)."""

from __future__ import annotations

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
