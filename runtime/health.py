"""Liveness (the process answers) and readiness (the database answers in time, the pool has room).

Readiness status:
- ``unhealthy`` (503): the database is not configured, refuses connections, or does not answer ``SELECT 1``
  within the check's time bound (pool exhausted included: this instance cannot serve queries now).
- ``degraded`` (200): the database answers but slower than ``DEGRADED_LATENCY_MS``, requests are queued for a
  pool connection, or Sentry is not configured in production (errors would go unseen).
- ``healthy`` (200) otherwise.

The report carries statuses, timings, pool counts and "is configured" booleans: never a URL, DSN or secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _string  # json.dumps' own string encoder (C)
from typing import TYPE_CHECKING, Any, Protocol

from runtime import constants, db

if TYPE_CHECKING:
    from pydantic import SecretStr

DEGRADED_LATENCY_MS = 250.0


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_SEVERITY = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}


def worst(*statuses: HealthStatus) -> HealthStatus:
    result = HealthStatus.HEALTHY
    for status in statuses:  # a loop: max(key=...) costs ~1 us on every readiness check
        if _SEVERITY[status] > _SEVERITY[result]:
            result = status
    return result


class HealthSettings(Protocol):
    """The part of ``runtime.settings.Settings`` readiness reads."""

    @property
    def stage(self) -> str: ...
    @property
    def is_production(self) -> bool: ...
    @property
    def database_url(self) -> SecretStr | None: ...
    @property
    def database_url_unpooled(self) -> SecretStr | None: ...
    @property
    def sentry_dsn(self) -> SecretStr | None: ...
    @property
    def health_check_timeout_seconds(self) -> float: ...


@dataclass(frozen=True)
class CheckResult:
    """One check: ``status`` is ``ok``/``slow`` or a reason code (``timeout``, ``pool_exhausted``...)."""

    status: str
    health: HealthStatus
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.latency_ms is not None:
            body["latencyMs"] = round(self.latency_ms, 2)
        return body

    def as_json(self) -> str:
        """``as_dict()`` as compact JSON (see ``HealthReport.as_json``)."""
        if self.latency_ms is None:
            return f'{{"status":{_string(self.status)}}}'
        return f'{{"status":{_string(self.status)},"latencyMs":{round(self.latency_ms, 2)!r}}}'


@dataclass(frozen=True)
class HealthReport:
    status: HealthStatus
    checks: dict[str, CheckResult]
    elapsed_ms: float
    stage: str | None = None
    pool: db.PoolStats | None = None
    services: dict[str, bool] | None = None

    @property
    def http_status(self) -> int:
        return 503 if self.status is HealthStatus.UNHEALTHY else 200

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status.value}
        if self.stage is not None:
            body["stage"] = self.stage
        body["checks"] = {name: check.as_dict() for name, check in self.checks.items()}
        if self.pool is not None:
            body["pool"] = self.pool.as_dict()
        if self.services is not None:
            body["services"] = self.services
        body["elapsedMs"] = round(self.elapsed_ms, 2)
        return body

    def as_json(self) -> str:
        """``as_dict()`` as compact JSON: the text ``json.dumps(..., separators=(",", ":"))`` gives (a test
        holds it), written directly; building the dict and encoding it cost ~3 us more per request."""
        text = '{"status":' + _string(self.status.value)
        if self.stage is not None:
            text += ',"stage":' + _string(self.stage)
        checks = ",".join([_string(name) + ":" + check.as_json() for name, check in self.checks.items()])
        text += ',"checks":{' + checks + "}"
        if self.pool is not None:
            pool = self.pool
            text += (
                f',"pool":{{"active":{pool.active},"idle":{pool.idle},"waiting":{pool.waiting},'
                f'"size":{pool.size},"max":{pool.max_size}}}'
            )
        if self.services is not None:
            services = ",".join([_string(name) + ":" + _JSON_BOOL[on] for name, on in self.services.items()])
            text += ',"services":{' + services + "}"
        return text + f',"elapsedMs":{round(self.elapsed_ms, 2)!r}}}'


_JSON_BOOL = {True: "true", False: "false"}


def liveness() -> HealthReport:
    """The process is up and answering: no I/O, no settings."""
    return HealthReport(
        status=HealthStatus.HEALTHY,
        checks={"process": CheckResult(status="ok", health=HealthStatus.HEALTHY)},
        elapsed_ms=0.0,
    )


def readiness(
    settings: HealthSettings, *, timeout: float | None = None, pool: db.Pool | None = None
) -> HealthReport:
    """Database round trip (bounded by ``timeout``), pool counts and configured services."""
    started = time.monotonic()
    budget = timeout if timeout is not None else settings.health_check_timeout_seconds
    database = check_database(settings, timeout=budget, pool=pool)
    sentry = check_sentry(settings)
    stats = db.pool_stats(pool)
    queue = HealthStatus.DEGRADED if stats.waiting > 0 else HealthStatus.HEALTHY
    return HealthReport(
        status=worst(database.health, sentry.health, queue),
        checks={"database": database, "sentry": sentry},
        elapsed_ms=(time.monotonic() - started) * 1000.0,
        stage=settings.stage,
        pool=stats,
        services={
            "database": settings.database_url is not None,
            "databaseUnpooled": settings.database_url_unpooled is not None,
            "sentry": settings.sentry_dsn is not None,
        },
    )


def check_database(
    settings: HealthSettings,
    *,
    timeout: float = constants.DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
    pool: db.Pool | None = None,
) -> CheckResult:
    """``SELECT 1`` through the pool's one bounded path, answered within ``timeout`` whatever the database
    does (one round trip on a warm pool: autocommit, no liveness check for a connection in recent use)."""
    if settings.database_url is None and pool is None:
        return CheckResult(status=db.DatabaseNotConfigured.reason, health=HealthStatus.UNHEALTHY)
    started = time.monotonic()
    try:
        with (pool if pool is not None else db.get_pool()).connection(timeout) as conn:
            conn.execute("SELECT 1").fetchone()
    except db.DatabaseUnavailable as error:
        return CheckResult(status=error.reason, health=HealthStatus.UNHEALTHY, latency_ms=_ms_since(started))
    except Exception:  # an unexpected failure is still an answer, not a traceback (the decorator logs none)
        return CheckResult(status="error", health=HealthStatus.UNHEALTHY, latency_ms=_ms_since(started))
    latency_ms = _ms_since(started)
    if latency_ms > DEGRADED_LATENCY_MS:
        return CheckResult(status="slow", health=HealthStatus.DEGRADED, latency_ms=latency_ms)
    return CheckResult(status="ok", health=HealthStatus.HEALTHY, latency_ms=latency_ms)


def check_sentry(settings: HealthSettings) -> CheckResult:
    if settings.sentry_dsn is not None:
        return _SENTRY_OK
    # Outside production running without Sentry is a choice; in production errors would go unseen.
    return _SENTRY_MISSING_IN_PRODUCTION if settings.is_production else _SENTRY_MISSING


# Results without a measurement are constants (frozen): no allocation per request.
_SENTRY_OK = CheckResult(status="ok", health=HealthStatus.HEALTHY)
_SENTRY_MISSING = CheckResult(status="not_configured", health=HealthStatus.HEALTHY)
_SENTRY_MISSING_IN_PRODUCTION = CheckResult(status="not_configured", health=HealthStatus.DEGRADED)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
