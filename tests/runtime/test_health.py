"""runtime.health: readiness on the real PostgreSQL + PgBouncer, and its answer time in each fault."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from localstage import LocalStage
from runtime import db, health
from runtime.health import HealthStatus
from tests.fixtures.services import BoundReport, settled_pool_stats
from tests.runtime.test_db import query_count

CHECK_BOUND_SECONDS = 1.0
ANSWER_SLACK_SECONDS = 0.5  # thread start, socket shutdown and scheduling on a shared 2-core machine


@dataclass
class FakeHealthSettings:
    """Stands in for runtime.settings.Settings (the HealthSettings protocol)."""

    database_url: SecretStr | None
    stage: str = "development"
    is_production: bool = False
    database_url_unpooled: SecretStr | None = None
    sentry_dsn: SecretStr | None = None
    health_check_timeout_seconds: float = CHECK_BOUND_SECONDS


@pytest.fixture
def settings(services: LocalStage) -> FakeHealthSettings:
    return FakeHealthSettings(
        database_url=SecretStr(services.pooled_url()),
        database_url_unpooled=SecretStr(services.direct_url()),
    )


@pytest.fixture
def pool(services: LocalStage) -> Iterator[db.Pool]:
    pool = db.create_pool(db.PoolConfig(conninfo=services.pooled_url(), max_size=2, timeout_seconds=2.0))
    yield pool
    pool.close()


def timed_readiness(settings: FakeHealthSettings, pool: db.Pool) -> tuple[health.HealthReport, float]:
    started = time.monotonic()
    report = health.readiness(settings, pool=pool)
    return report, time.monotonic() - started


def test_a_warm_check_is_one_round_trip(
    settings: FakeHealthSettings, pool: db.Pool, services: LocalStage
) -> None:
    """Counted by PgBouncer: the check is its SELECT 1 and nothing else (no liveness query, no BEGIN)."""
    assert health.readiness(settings, pool=pool).status is HealthStatus.HEALTHY
    before = query_count(services)
    for _ in range(10):
        assert health.readiness(settings, pool=pool).status is HealthStatus.HEALTHY
    assert query_count(services) - before == 10


def test_healthy_report(settings: FakeHealthSettings, pool: db.Pool) -> None:
    report = health.readiness(settings, pool=pool)
    body = report.as_dict()
    assert report.status is HealthStatus.HEALTHY
    assert report.http_status == 200
    assert body["checks"]["database"]["status"] == "ok"
    assert 0 < body["checks"]["database"]["latencyMs"] < health.DEGRADED_LATENCY_MS
    assert body["checks"]["sentry"] == {"status": "not_configured"}
    assert body["pool"]["active"] == 0
    assert body["pool"]["idle"] >= 1
    assert body["pool"]["waiting"] == 0
    assert body["services"] == {"database": True, "databaseUnpooled": True, "sentry": False}


def test_body_holds_no_credentials(services: LocalStage, pool: db.Pool) -> None:
    settings = FakeHealthSettings(
        database_url=SecretStr(services.pooled_url()),
        database_url_unpooled=SecretStr(services.direct_url()),
        sentry_dsn=SecretStr("https://publickey123@o1.ingest.example.com/42"),
    )
    text = json.dumps(health.readiness(settings, pool=pool).as_dict())
    for secret in (services.postgres.password, services.pooled_url(), "publickey123", "127.0.0.1"):
        assert secret not in text
    assert str(services.pgbouncer.port) not in text


def test_sentry_missing_in_production_is_degraded(settings: FakeHealthSettings, pool: db.Pool) -> None:
    settings.is_production = True
    report = health.readiness(settings, pool=pool)
    assert report.status is HealthStatus.DEGRADED
    assert report.http_status == 200


def test_slow_database_is_degraded(
    settings: FakeHealthSettings, pool: db.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "DEGRADED_LATENCY_MS", 0.0)
    report = health.readiness(settings, pool=pool)
    assert report.checks["database"].status == "slow"
    assert report.status is HealthStatus.DEGRADED


def test_queued_requests_are_degraded(
    settings: FakeHealthSettings, pool: db.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = db.PoolStats(active=2, idle=0, waiting=3, size=2, max_size=2)
    monkeypatch.setattr(db, "pool_stats", lambda pool=None: queued)
    report = health.readiness(settings, pool=pool)
    assert report.status is HealthStatus.DEGRADED
    assert report.as_dict()["pool"] == {"active": 2, "idle": 0, "waiting": 3, "size": 2, "max": 2}


def test_unconfigured_database_is_unhealthy() -> None:
    report = health.readiness(FakeHealthSettings(database_url=None))
    assert report.status is HealthStatus.UNHEALTHY
    assert report.http_status == 503
    assert report.as_dict()["checks"]["database"] == {"status": "not_configured"}


def test_liveness_touches_nothing() -> None:
    report = health.liveness()
    assert report.http_status == 200
    assert report.as_dict() == {
        "status": "healthy",
        "checks": {"process": {"status": "ok"}},
        "elapsedMs": 0.0,
    }


def test_worst_status_wins() -> None:
    assert health.worst() is HealthStatus.HEALTHY
    assert health.worst(HealthStatus.DEGRADED, HealthStatus.HEALTHY) is HealthStatus.DEGRADED
    assert health.worst(HealthStatus.DEGRADED, HealthStatus.UNHEALTHY) is HealthStatus.UNHEALTHY


# --- answer time in each fault ----------------------------------------------------------------------------


def test_pool_exhausted_is_unhealthy_within_bound(
    settings: FakeHealthSettings, pool: db.Pool, report_bound: BoundReport
) -> None:
    with pool.connection(timeout=30), pool.connection(timeout=30):  # every connection in use
        report, elapsed = timed_readiness(settings, pool)
    assert report.http_status == 503
    assert report.checks["database"].status == "pool_exhausted"
    assert elapsed < CHECK_BOUND_SECONDS + ANSWER_SLACK_SECONDS
    report_bound("pool exhausted -> 503 after", elapsed, CHECK_BOUND_SECONDS + ANSWER_SLACK_SECONDS)


@pytest.mark.drill
def test_pgbouncer_down_is_unhealthy_fast(
    settings: FakeHealthSettings, pool: db.Pool, pgbouncer_down: LocalStage, report_bound: BoundReport
) -> None:
    report, elapsed = timed_readiness(settings, pool)
    assert report.http_status == 503
    assert report.checks["database"].status == "unavailable"
    assert elapsed < CHECK_BOUND_SECONDS
    report_bound("PgBouncer down -> 503 after", elapsed, CHECK_BOUND_SECONDS)


@pytest.mark.drill
def test_postgres_down_is_unhealthy_within_bound_then_recovers(
    settings: FakeHealthSettings, pool: db.Pool, services: LocalStage, report_bound: BoundReport
) -> None:
    assert health.readiness(settings, pool=pool).http_status == 200  # a warm instance
    services.stop_postgres()
    try:
        answers = [timed_readiness(settings, pool) for _ in range(3)]  # repeated probes stay bounded
    finally:
        services.start_postgres()
    bound = CHECK_BOUND_SECONDS + ANSWER_SLACK_SECONDS
    for report, elapsed in answers:
        assert report.http_status == 503
        assert report.checks["database"].status in {"timeout", "unavailable"}
        assert elapsed < bound
    report_bound(
        "Postgres down behind PgBouncer -> 503 after (worst of 3)", max(e for _, e in answers), bound
    )

    started = time.monotonic()
    report, _ = timed_readiness(settings, pool)
    # The first query after the restart may be slow (degraded, still 200): wait, bounded, for healthy.
    while report.status is not HealthStatus.HEALTHY and time.monotonic() - started < 15:
        time.sleep(0.1)
        report, _ = timed_readiness(settings, pool)
    assert report.status is HealthStatus.HEALTHY
    report_bound(
        "recovery to healthy after Postgres restart, same process and pool", time.monotonic() - started
    )
    assert settled_pool_stats(pool).active == 0  # nothing stuck checked out


def _reports() -> list[health.HealthReport]:
    ok = health.CheckResult(status="ok", health=HealthStatus.HEALTHY, latency_ms=0.0712345)
    slow = health.CheckResult(status="slow", health=HealthStatus.DEGRADED, latency_ms=1234.5678)
    tiny = health.CheckResult(status="timeout", health=HealthStatus.UNHEALTHY, latency_ms=1e-7)
    bare = health.CheckResult(status="not_configured", health=HealthStatus.UNHEALTHY)
    pool = db.PoolStats(active=3, idle=0, waiting=12, size=3, max_size=30)
    return [
        health.liveness(),
        health.HealthReport(
            status=HealthStatus.HEALTHY,
            checks={"database": ok, "sentry": health.check_sentry(FakeHealthSettings(database_url=None))},
            elapsed_ms=0.105,
            stage="pr-42",
            pool=pool,
            services={"database": True, "databaseUnpooled": False, "sentry": True},
        ),
        health.HealthReport(status=HealthStatus.DEGRADED, checks={"database": slow}, elapsed_ms=2e16),
        health.HealthReport(
            status=HealthStatus.UNHEALTHY,
            checks={"database": tiny, "sentry": bare},
            elapsed_ms=0.0,
            stage='quote" back\\slash é',
            pool=db.NO_POOL,
            services={},
        ),
    ]


@pytest.mark.parametrize("report", _reports(), ids=["live", "healthy", "degraded", "unhealthy"])
def test_the_json_written_directly_is_the_encoders_text(report: health.HealthReport) -> None:
    assert report.as_json() == json.dumps(report.as_dict(), separators=(",", ":"))
