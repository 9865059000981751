"""The pooler rule: Neon hosts by name, any other host by its cancel key; and the real PgBouncer refused."""

from __future__ import annotations

import psycopg
import pytest

from dbops.pooler import PooledConnectionRefused, pooler_reason, refuse_pooled
from localstage import LocalStage


@pytest.mark.parametrize(
    ("host", "announced", "server", "pooled"),
    [
        ("ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech", 7, 7, True),
        ("EP-COOL-DARKNESS-123456-POOLER.eu-central-1.aws.neon.tech.", None, None, True),
        # Neon's proxy announces keys of its own on the direct host too: not a pooler.
        ("ep-cool-darkness-123456.eu-central-1.aws.neon.tech", 999, 7, False),
        # "-pooler" elsewhere in a Neon name is not the pooler endpoint.
        ("ep-x.eu-pooler-1.aws.neon.tech", 7, 7, False),
        ("127.0.0.1", 969228595, 17026, True),  # PgBouncer's own key
        ("db.internal", 17024, 17024, False),  # direct, or a port mapping that passes the key through
        ("db.internal", None, 17024, False),  # not probed: nothing to go on
        (None, 5, 5, False),  # a Unix socket
    ],
)
def test_pooler_rule(host: str | None, announced: int | None, server: int | None, pooled: bool) -> None:
    reason = pooler_reason(host, announced_pid=announced, server_pid=server)
    assert (reason is not None) is pooled
    if reason:
        assert "direct" in reason


def test_local_pgbouncer_is_refused_and_postgres_is_not(services: LocalStage) -> None:
    pooled = psycopg.connect(services.pooled_url(), autocommit=True, prepare_threshold=None)
    with pooled as conn, pytest.raises(PooledConnectionRefused, match="pooler"):
        refuse_pooled(conn, services.pooled_url())
    with psycopg.connect(services.direct_url(), autocommit=True) as conn:
        refuse_pooled(conn, services.direct_url())
