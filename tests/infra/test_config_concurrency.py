"""``infra.concurrency``: reserved concurrency from the pool size and Neon's published pooler limits."""

from __future__ import annotations

import itertools

import pytest

from infra.concurrency import (
    NEON_MAX_CLIENT_CONNECTIONS,
    max_connections,
    reserved_concurrency,
    server_pool_size,
)
from infra.config import NEON_AUTOSCALING_SIZES


@pytest.mark.parametrize(
    ("compute_units", "expected"),
    [(0.25, 104), (0.5, 209), (1, 419), (1.5, 419), (2, 839), (8, 3357), (9, 4000), (16, 4000)],
)
def test_max_connections_follows_neons_published_table(compute_units: float, expected: int) -> None:
    assert max_connections(compute_units) == expected


def test_server_pool_is_nine_tenths_rounded_down() -> None:
    assert (server_pool_size(0.25), server_pool_size(1), server_pool_size(16)) == (93, 377, 3600)
    with pytest.raises(ValueError, match=r"at least 0\.25 CU"):
        server_pool_size(0.1)


@pytest.mark.parametrize(
    ("min_cu", "pool", "share", "expected"),
    [
        (0.25, 2, 0.5, 23),  # staging and previews: floor(93 x 0.5 / 2)
        (0.5, 2, 0.5, 47),  # production: floor(188 x 0.5 / 2)
        (1, 1, 1.0, 377),
        (0.25, 20, 0.5, 2),  # the runtime's default pool of 20 leaves little room
        (0.25, 30, 0.25, 1),  # never below 1: 0 would throttle every invocation
        (16, 1, 1.0, 3600),
    ],
)
def test_reserved_concurrency_examples(min_cu: float, pool: int, share: float, expected: int) -> None:
    assert reserved_concurrency(min_compute_units=min_cu, pool_max_size=pool, pooler_share=share) == expected


def test_the_client_limit_caps_it_too() -> None:
    assert (
        reserved_concurrency(
            min_compute_units=16, pool_max_size=1, pooler_share=1.0, max_client_connections=100
        )
        == 100
    )


def test_the_worst_case_never_exceeds_the_pooler_for_any_setting() -> None:
    checked = 0
    for size, pool, share in itertools.product(NEON_AUTOSCALING_SIZES, range(1, 31), (0.1, 0.25, 0.5, 1.0)):
        concurrency = reserved_concurrency(min_compute_units=size, pool_max_size=pool, pooler_share=share)
        worst_case = concurrency * pool
        if concurrency > 1:  # the floor of 1 is the only way past the share
            assert worst_case <= server_pool_size(size) * share
        assert worst_case <= NEON_MAX_CLIENT_CONNECTIONS
        checked += 1
    assert checked == len(NEON_AUTOSCALING_SIZES) * 30 * 4


@pytest.mark.parametrize(("pool", "share"), [(0, 0.5), (2, 0.0), (2, 1.5)])
def test_nonsense_inputs_are_refused(pool: int, share: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        reserved_concurrency(min_compute_units=0.25, pool_max_size=pool, pooler_share=share)
