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
the branch (migrations, consoles)::

    budget   = floor(min(server_pool(min_cu), max_client_conn) x pooler_share)       connections
    share_f  = floor(budget x db_share_f / sum of every function's db_share)          connections
    reserved = floor(share_f / pool_max_size_f)                                      at least 1, else an error

Every function of the stage draws on the same (role, database) server pool, so the budget is split between
them by their declared shares (:func:`allocate`); the config (``infra.config``) and the policy rule
``function-concurrency-fits-pooler`` both check :func:`worst_case` against :func:`connection_budget`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

NEON_MAX_CLIENT_CONNECTIONS: Final = 10_000
DEFAULT_POOLER_SHARE: Final = 0.5  # of the server pool, for all the stage's functions together
MIN_COMPUTE_UNITS: Final = 0.25  # Neon's smallest compute: the budget when the size is not known
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


def connection_budget(
    *,
    min_compute_units: float,
    pooler_share: float = DEFAULT_POOLER_SHARE,
    max_client_connections: int = NEON_MAX_CLIENT_CONNECTIONS,
) -> int:
    """Connections every function of the stage together may hold: ``pooler_share`` of the server pool at
    the smallest compute (and never more than the pooler's client limit), rounded down."""
    if not 0 < pooler_share <= 1:
        raise ValueError("pooler_share must be above 0 and at most 1")
    return math.floor(min(server_pool_size(min_compute_units), max_client_connections) * pooler_share)


def worst_case(functions: Iterable[tuple[int, int]]) -> int:
    """Connections the functions may hold at once: the sum of reserved concurrency x pool size."""
    return sum(concurrency * pool_max_size for concurrency, pool_max_size in functions)


def reserved_concurrency(
    *,
    min_compute_units: float,
    pool_max_size: int,
    pooler_share: float,
    max_client_connections: int = NEON_MAX_CLIENT_CONNECTIONS,
) -> int:
    """The largest reserved concurrency of a *single* function whose worst case fits ``pooler_share`` of
    the pooler (at least 1)."""
    if pool_max_size < 1:
        raise ValueError("pool_max_size must be at least 1")
    budget = connection_budget(
        min_compute_units=min_compute_units,
        pooler_share=pooler_share,
        max_client_connections=max_client_connections,
    )
    return max(1, budget // pool_max_size)


@dataclass(frozen=True)
class Demand:
    """One function's claim on the budget: its share, its pool size, and an explicit (lower) limit."""

    name: str
    share: float
    pool_max_size: int
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Allocation:
    name: str
    connections: int  # the function's part of the budget
    pool_max_size: int
    max_concurrency: int  # what its part allows
    concurrency: int  # what it gets: the explicit limit, else max_concurrency


class BudgetError(ValueError):
    """The functions cannot fit: ``too_small`` get less than one instance's pool, ``too_high`` ask for more
    instances than their part allows."""

    def __init__(self, budget: int, too_small: Sequence[Allocation], too_high: Sequence[Allocation]) -> None:
        names = ", ".join(a.name for a in (*too_small, *too_high))
        super().__init__(f"the budget of {budget} connections cannot serve {names}")
        self.budget = budget
        self.too_small = tuple(too_small)
        self.too_high = tuple(too_high)


def allocate(budget: int, demands: Sequence[Demand]) -> dict[str, Allocation]:
    """Split ``budget`` between ``demands`` by share; raises :class:`BudgetError` naming every function
    that cannot run one instance, or whose explicit limit is above its part. The worst case of the result
    never exceeds ``budget`` (each part is rounded down)."""
    total_share = sum(demand.share for demand in demands)
    allocations: dict[str, Allocation] = {}
    too_small: list[Allocation] = []
    too_high: list[Allocation] = []
    for demand in demands:
        if demand.share <= 0 or demand.pool_max_size < 1:
            raise ValueError("share must be above 0 and pool_max_size at least 1")
        connections = math.floor(budget * demand.share / total_share)
        most = connections // demand.pool_max_size
        allocation = Allocation(
            demand.name, connections, demand.pool_max_size, most, demand.reserved_concurrency or most
        )
        if most < 1:
            too_small.append(allocation)
        elif allocation.concurrency > most:
            too_high.append(allocation)
        allocations[demand.name] = allocation
    if too_small or too_high:
        raise BudgetError(budget, too_small, too_high)
    return allocations
