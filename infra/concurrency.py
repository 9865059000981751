"""How many copies of a function may run at once without overrunning the stage's Neon database.

Neon puts PgBouncer (transaction mode) in front of every compute:

- client side: at most ``max_client_conn`` = 10,000 connections to the pooler;
- server side: one pool per (role, database) of ``default_pool_size`` ≈ 0.9 x ``max_connections`` of the
  compute, and ``max_connections`` grows with the compute size (104 at 0.25 CU, 419 at 1 CU, capped at 4000).

A Lambda instance serves one invocation at a time, but its psycopg pool may hold up to ``pool_max_size``
connections, and nothing stops a handler from using them all. So the worst case of ``concurrency`` instances
is ``concurrency x pool_max_size`` connections, all busy. Sizing against the server pool *at the minimum
compute size* (the smallest the autoscaler ever shrinks to) means even that worst case never queues at the
pooler, whatever the autoscaler does; ``pooler_share`` keeps the rest of the pool for everything else on
the branch (migrations, the team's other functions, consoles)::

    reserved = floor(min(server_pool(min_cu), max_client_conn) x pooler_share / pool_max_size), at least 1
"""

from __future__ import annotations

import math
from typing import Final

NEON_MAX_CLIENT_CONNECTIONS: Final = 10_000
SERVER_POOL_FRACTION: Final = 0.9
# Neon's published max_connections per compute size (CU); 9 CU and above are capped at 4000.
NEON_MAX_CONNECTIONS: Final[dict[float, int]] = {
    0.25: 104,
    0.5: 209,
    1: 419,
    2: 839,
    3: 1258,
    4: 1678,
    5: 2098,
    6: 2517,
    7: 2937,
    8: 3357,
}
NEON_MAX_CONNECTIONS_CAP: Final = 4000


def max_connections(compute_units: float) -> int:
    """Neon's ``max_connections`` at ``compute_units`` (the largest listed size not above it)."""
    if compute_units < min(NEON_MAX_CONNECTIONS):
        raise ValueError(f"a Neon compute has at least {min(NEON_MAX_CONNECTIONS)} CU")
    if compute_units > max(NEON_MAX_CONNECTIONS):
        return NEON_MAX_CONNECTIONS_CAP
    return NEON_MAX_CONNECTIONS[max(size for size in NEON_MAX_CONNECTIONS if size <= compute_units)]


def server_pool_size(compute_units: float) -> int:
    """The pooler's server-side pool for one (role, database): 0.9 x ``max_connections``, rounded down."""
    return math.floor(SERVER_POOL_FRACTION * max_connections(compute_units))


def reserved_concurrency(
    *,
    min_compute_units: float,
    pool_max_size: int,
    pooler_share: float,
    max_client_connections: int = NEON_MAX_CLIENT_CONNECTIONS,
) -> int:
    """The largest reserved concurrency whose worst case fits ``pooler_share`` of the pooler (at least 1)."""
    if pool_max_size < 1:
        raise ValueError("pool_max_size must be at least 1")
    if not 0 < pooler_share <= 1:
        raise ValueError("pooler_share must be above 0 and at most 1")
    budget = min(server_pool_size(min_compute_units), max_client_connections) * pooler_share
    return max(1, math.floor(budget / pool_max_size))
