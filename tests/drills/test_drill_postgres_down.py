"""Drill: Postgres stops behind a running PgBouncer while health traffic flows, then comes back.

Through PgBouncer a query then waits for `query_wait_timeout` (20 s here, 120 s by default): the handler must
still answer 503 within its own health bound, recover in the same process once Postgres returns, leave no
request hanging and no pool connection stuck."""

from __future__ import annotations

import time

import pytest

from localstage import LocalStage
from runtime import db
from runtime.handler import handle
from tests.drills.conftest import HEALTH_CHECK_TIMEOUT_SECONDS, DrillReport, RuntimeConfigurer
from tests.drills.traffic import JOIN_SECONDS, Traffic, call, started_between

ANSWER_BOUND_SECONDS = HEALTH_CHECK_TIMEOUT_SECONDS + 1.0  # the check's bound + thread/scheduling slack
RECOVERY_BOUND_SECONDS = 15.0
OUTAGE_SECONDS = 4.0


@pytest.mark.drill
@pytest.mark.timeout(90)
def test_postgres_stopped_behind_pgbouncer_during_load(
    drill_stage: LocalStage, configure_runtime: RuntimeConfigurer, drill_report: DrillReport
) -> None:
    configure_runtime()
    assert call(handle)[0] == 200

    with Traffic(handle, clients=8) as traffic:
        time.sleep(1.0)
        down_at = time.monotonic()
        drill_stage.stop_postgres()
        stopped_at = time.monotonic()
        first_503 = traffic.wait_for(
            lambda o: o.status == 503, after=stopped_at, timeout=ANSWER_BOUND_SECONDS * 2
        )
        time.sleep(OUTAGE_SECONDS)
        restart_began = time.monotonic()
        drill_stage.start_postgres()
        up_at = time.monotonic()
        first_200 = traffic.wait_for(lambda o: o.status == 200, after=up_at, timeout=RECOVERY_BOUND_SECONDS)
        recovered_at = first_200.finished if first_200 else time.monotonic()
        time.sleep(1.0)
    outcomes = traffic.outcomes

    slowest = max(o.seconds for o in outcomes)
    # Requests that started and (within their bound) finished while Postgres was surely down.
    during_outage = started_between(outcomes, stopped_at, restart_began - ANSWER_BOUND_SECONDS)
    after_recovery = [o for o in outcomes if o.started >= recovered_at]
    drill_report("slowest answer (any request)", slowest, "s", ANSWER_BOUND_SECONDS)
    drill_report("requests during the outage", len(during_outage), "requests")
    assert first_503 is not None, "health never answered 503 while Postgres was down"
    drill_report("Postgres fast shutdown took", stopped_at - down_at, "s")
    drill_report(
        "first 503 after Postgres stopped", first_503.finished - stopped_at, "s", ANSWER_BOUND_SECONDS * 2
    )
    assert first_200 is not None, f"no 200 within {RECOVERY_BOUND_SECONDS} s of Postgres returning"
    drill_report("recovery after Postgres returned", recovered_at - up_at, "s", RECOVERY_BOUND_SECONDS)

    assert traffic.hung == 0, (
        f"{traffic.hung} requests still running {JOIN_SECONDS} s after the traffic stopped"
    )
    assert all(o.status is not None for o in outcomes), {o.error for o in outcomes if o.status is None}
    assert slowest <= ANSWER_BOUND_SECONDS
    assert during_outage, "no request fell inside the outage window"
    assert {o.status for o in during_outage} <= {503}, "a request during the outage did not answer 503"
    assert after_recovery, "no traffic after recovery to judge"
    assert {o.status for o in after_recovery} == {200}, "errors after recovery: the process did not recover"

    # No pool stuck: nothing checked out, nobody queued, and a fresh request is served at once.
    stats = db.pool_stats()
    assert (stats.active, stats.waiting) == (0, 0)
    status, body, seconds = call(handle)
    assert (status, body["status"]) == (200, "healthy")
    drill_report("health after the drill", seconds, "s", ANSWER_BOUND_SECONDS)
