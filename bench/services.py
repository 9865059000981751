"""The throwaway PostgreSQL + PgBouncer a benchmark measures against (C's `localstage` launcher), and the
environment that points the runtime at it."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from bench.harness import Unavailable
from localstage import LocalStage, missing_binaries

# PgBouncer's own defaults are max_client_conn=100 and default_pool_size=20. 100 connect-per-request
# clients (plus the sockets still closing behind them) would hit max_client_conn and be refused, which is
# not what the naive baseline is meant to show; so clients get room (500) while server connections stay at
# 20, the same as the runtime pool's max: both sides of the load comparison get the same 20 Postgres backends.
PGBOUNCER_MAX_CLIENT_CONN = 500
PGBOUNCER_DEFAULT_POOL_SIZE = 20
# Short enough that a broken stage fails a benchmark in seconds, not PgBouncer's 120 s default.
PGBOUNCER_QUERY_WAIT_TIMEOUT = 10


@contextmanager
def local_stage() -> Iterator[LocalStage]:
    """PostgreSQL 15 + PgBouncer (transaction pooling) on 127.0.0.1; both stopped and deleted after."""
    missing = missing_binaries()
    if missing:
        raise Unavailable(f"server programs not installed: {', '.join(missing)}")
    stage = LocalStage(
        query_wait_timeout=PGBOUNCER_QUERY_WAIT_TIMEOUT, default_pool_size=PGBOUNCER_DEFAULT_POOL_SIZE
    )
    stage.pgbouncer.max_client_conn = PGBOUNCER_MAX_CLIENT_CONN  # read when its config is written, at start
    with stage:
        yield stage


def stage_notes() -> list[str]:
    return [
        f"PgBouncer pool_mode=transaction, default_pool_size={PGBOUNCER_DEFAULT_POOL_SIZE}, "
        f"max_client_conn={PGBOUNCER_MAX_CLIENT_CONN} (PgBouncer defaults: 20 and 100), auth scram-sha-256, "
        "127.0.0.1"
    ]


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set env vars for the block (the runtime reads its settings from the environment), then restore."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@contextmanager
def sentry_ingest() -> Iterator[str]:
    """A local Sentry envelope sink that answers at once (B's test sink); yields its DSN."""
    from tests.fixtures.sentry_sink import SentrySink, SinkMode

    with SentrySink(mode=SinkMode.NORMAL) as sink:
        yield sink.dsn
