"""Drill: the Neon API misbehaves (423 Locked for a while or for good, 429, 5xx, dropped connections) while
the branch provider creates a preview branch against the local fake Neon. The provider either converges
(exactly one branch by that name) or fails with a clear message naming Neon and the failure; either way no
orphan branch is left and no API key appears in the message."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from infra.providers.http import RetryPolicy
from infra.providers.neon import NeonBranchProvider
from infra.providers.neon_client import PollPolicy
from tests.drills.conftest import DrillReport
from tests.fixtures.fake_api import Fault
from tests.fixtures.fake_neon import TEST_API_KEY, FakeNeon

BRANCH_NAME = "preview-pr-7"
CREATE_PATH = r"/branches$"
POLL_PATH = r"/operations/"
# Real policies, shortened: the same code paths in seconds instead of minutes.
RETRY = RetryPolicy(
    max_attempts=8,
    base_delay_seconds=0.05,
    max_delay_seconds=0.5,
    deadline_seconds=15.0,
    connect_timeout_seconds=2.0,
    read_timeout_seconds=2.0,
)
POLL = PollPolicy(interval_seconds=0.05, max_interval_seconds=0.2, timeout_seconds=10.0)
SCENARIO_BOUND_SECONDS = RETRY.deadline_seconds + POLL.timeout_seconds


Disturbance = Callable[[FakeNeon], list[Fault]]  # returns the injected faults, to prove each one fired


def faults(*injected: Fault) -> Disturbance:
    return lambda neon: [neon.inject(fault) for fault in injected]


def locked(ticks: int) -> Disturbance:
    """An unrelated operation runs for `ticks` requests: meanwhile Neon answers 423 to every mutation."""

    def disturb(neon: FakeNeon) -> list[Fault]:
        neon.background_operation(ticks)
        return []

    return disturb


def compute_fails(neon: FakeNeon) -> list[Fault]:
    neon.fail_operations("start_compute")
    return []


@dataclass(frozen=True)
class Scenario:
    name: str
    disturb: Disturbance
    error: str | None = None  # None: the create must converge; else a fragment the error message must hold


SCENARIOS = [
    Scenario("undisturbed", faults()),
    Scenario("423 for a while", locked(ticks=6)),
    Scenario("429 with Retry-After", faults(Fault(status=429, path=CREATE_PATH, times=3, retry_after="0.2"))),
    Scenario("503 on every call for a while", faults(Fault(status=503, times=4))),
    Scenario(
        "500 on create (not acted on)", faults(Fault(status=500, method="POST", path=CREATE_PATH, times=2))
    ),
    Scenario(
        "502 while polling operations", faults(Fault(status=502, method="GET", path=POLL_PATH, times=3))
    ),
    Scenario("connection dropped before create", faults(Fault(kind="drop", method="POST", path=CREATE_PATH))),
    Scenario(
        "connection dropped after create was made",
        faults(Fault(kind="drop_after", method="POST", path=CREATE_PATH)),
    ),
    Scenario(
        "connections dropped while polling", faults(Fault(kind="drop", method="GET", path=POLL_PATH, times=3))
    ),
    Scenario("423 for good", locked(ticks=10_000), error="HTTP 423"),
    Scenario(
        "502 on every create",
        faults(Fault(status=502, method="POST", path=CREATE_PATH, times=1_000)),
        error="HTTP 502",
    ),
    Scenario("compute fails to start", compute_fails, error="half-made branch"),
]


@pytest.mark.drill
@pytest.mark.timeout(60)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_neon_api_faults_converge_or_fail_clearly(
    scenario: Scenario, fake_neon: FakeNeon, drill_report: DrillReport
) -> None:
    """The key comes from NEON_API_KEY (set by the fixture), as in CI."""
    injected = scenario.disturb(fake_neon)
    provider = NeonBranchProvider(retry=RETRY, poll=POLL)
    props = {
        "project_id": fake_neon.project_id,
        "branch_name": BRANCH_NAME,
        "api_base_url": fake_neon.base_url,
        "autoscaling_min_cu": 0.25,
        "autoscaling_max_cu": 0.25,
        "suspend_timeout_seconds": 0,
    }
    started = time.monotonic()
    error: Exception | None = None
    created_id = None
    try:
        created_id = provider.create(props).id
    except Exception as exc:
        error = exc
    seconds = time.monotonic() - started
    with fake_neon.lock:
        names = [branch.name for branch in fake_neon.branches.values()]
        requests = len(fake_neon.requests)
        violations = list(fake_neon.violations)

    outcome = "converged" if error is None else "failed clearly"
    drill_report(f"{outcome} after {requests} requests", seconds, "s", SCENARIO_BOUND_SECONDS)
    assert seconds <= SCENARIO_BOUND_SECONDS
    assert violations == [], "the provider sent requests outside the published Neon API"
    assert all(fault.hits > 0 for fault in injected), (
        "an injected fault never fired: the drill proved nothing"
    )
    if scenario.error is None:
        assert error is None, f"did not converge: {error}"
        assert names.count(BRANCH_NAME) == 1
        assert created_id is not None
        assert created_id.startswith("br-")
    else:
        assert error is not None, "a permanent fault must end in an error"
        message = str(error)
        assert scenario.error in message, message
        assert "Neon" in message, message
        assert TEST_API_KEY not in message
        assert BRANCH_NAME not in names, f"orphan branch left behind: {names}"
    assert sorted(names) == sorted({"main", *([BRANCH_NAME] if error is None else [])}), names
