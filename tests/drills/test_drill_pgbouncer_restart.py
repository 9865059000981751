"""Drill: PgBouncer restarts (same port) while health traffic flows. Only requests in flight during the
restart may fail, and they fail as a clear 503 (never a traceback or a hang); afterwards every request is
served again by the same process and pool."""

from __future__ import annotations

import time

import pytest

from localstage import LocalStage
from runtime import db
from runtime.handler import handle
from tests.drills.conftest import HEALTH_CHECK_TIMEOUT_SECONDS, DrillReport, RuntimeConfigurer
from tests.drills.traffic import JOIN_SECONDS, Traffic, call

ANSWER_BOUND_SECONDS = HEALTH_CHECK_TIMEOUT_SECONDS + 1.0
RECOVERY_BOUND_SECONDS = 5.0


@pytest.mark.drill
@pytest.mark.timeout(90)
def test_pgbouncer_restarted_during_load(
    drill_stage: LocalStage, configure_runtime: RuntimeConfigurer, drill_report: DrillReport
) -> None:
    configure_runtime()
    assert call(handle)[0] == 200

    with Traffic(handle, clients=8) as traffic:
        time.sleep(1.5)  # every client has a warm pooled connection to the PgBouncer about to go
        restart_began = time.monotonic()
        drill_stage.restart_pgbouncer()
        restart_ended = time.monotonic()
        first_200 = traffic.wait_for(
            lambda o: o.status == 200, after=restart_ended, timeout=RECOVERY_BOUND_SECONDS
        )
        time.sleep(2.0)
    outcomes = traffic.outcomes

    # In flight = started before the new PgBouncer listened and not finished before the old one went away.
    in_flight = [o for o in outcomes if o.finished >= restart_began and o.started < restart_ended]
    failed = [o for o in outcomes if o.status != 200]
    drill_report("PgBouncer restart took", restart_ended - restart_began, "s")
    drill_report("requests in flight during the restart", len(in_flight), "requests")
    drill_report("failed requests", len(failed), "requests")
    assert first_200 is not None, f"nothing served within {RECOVERY_BOUND_SECONDS} s of PgBouncer's return"
    drill_report(
        "first 200 after the restart", first_200.finished - restart_ended, "s", RECOVERY_BOUND_SECONDS
    )
    slowest = max(o.seconds for o in outcomes)
    drill_report("slowest answer (any request)", slowest, "s", ANSWER_BOUND_SECONDS)

    assert traffic.hung == 0, (
        f"{traffic.hung} requests still running {JOIN_SECONDS} s after the traffic stopped"
    )
    assert all(o.status in (200, 503) for o in outcomes), {o.status or o.error for o in outcomes}
    assert slowest <= ANSWER_BOUND_SECONDS
    assert set(failed) <= set(in_flight), "a request failed outside the restart window"
    after = [o for o in outcomes if o.started >= restart_ended]
    assert after, "no traffic after the restart to judge"
    assert {o.status for o in after} == {200}, "errors after PgBouncer was back: the pool did not recover"

    stats = db.pool_stats()
    assert (stats.active, stats.waiting) == (0, 0)
    assert call(handle)[0] == 200
