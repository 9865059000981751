"""The local stage: throwaway PostgreSQL 15 + PgBouncer on 127.0.0.1 and the health server.

``python -m localstage`` runs it; ``localstage.services`` holds the servers (tests reuse them).
"""

from __future__ import annotations

from localstage.services import (
    LocalStage,
    PgBouncerServer,
    PostgresServer,
    ServiceError,
    find_free_port,
    missing_binaries,
    port_is_open,
)

__all__ = [
    "LocalStage",
    "PgBouncerServer",
    "PostgresServer",
    "ServiceError",
    "find_free_port",
    "missing_binaries",
    "port_is_open",
]
