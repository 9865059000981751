"""runtime.handler.handle: function-URL (v2) routing, the JSON contract, 503 within the bound in faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from localstage import LocalStage
from runtime import constants
from runtime.handler import handle
from runtime.serve import LocalContext, build_event
from tests.fixtures.services import BoundReport

# Development warns about each unset variable (test_liveness_... asserts it once); elsewhere that is noise.
pytestmark = pytest.mark.filterwarnings("ignore:.*is not set:RuntimeWarning")

CHECK_BOUND_SECONDS = 1.0
ANSWER_SLACK_SECONDS = 0.5  # thread handoff, socket shutdown and scheduling on a shared 2-core machine


def call(method: str, path: str) -> tuple[int, dict[str, str], dict[str, Any], float]:
    event = build_event(method, path, [("User-Agent", "pytest")], b"", "127.0.0.1")
    started = time.monotonic()
    response = handle(event, LocalContext())
    elapsed = time.monotonic() - started
    body = json.loads(response["body"]) if response.get("body") else {}
    return response["statusCode"], response["headers"], body, elapsed


@pytest.fixture
def env(stage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(constants.HEALTH_CHECK_TIMEOUT_SECONDS, str(CHECK_BOUND_SECONDS))
    return stage_env


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Development with nothing configured (whatever the shell running the tests has set)."""
    from runtime import db, decorator, settings

    runtime_names = {value for name, value in vars(constants).items() if name == value}
    for name in runtime_names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(constants.BALLAST_STAGE, constants.DEFAULT_STAGE)
    db.close_pool()
    settings.reset_settings()
    decorator.reset_process()
    yield
    settings.reset_settings()
    decorator.reset_process()


def test_liveness_answers_even_with_nothing_configured(bare_env: None) -> None:
    with pytest.warns(RuntimeWarning, match="DATABASE_URL"):  # development warns and goes on
        status, headers, body, _ = call("GET", "/api/health/live")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "application/json"
    assert body["status"] == "healthy"
    assert headers["X-Request-ID"]  # the decorator's request ID


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/nope", 404),
        ("GET", "/", 404),
        ("POST", "/api/health", 405),
        ("DELETE", "/api/health/live", 405),
        ("GET", "/api/health/live/", 200),
    ],
)
def test_routing(bare_env: None, method: str, path: str, expected: int) -> None:
    status, headers, body, _ = call(method, path)
    assert status == expected
    assert headers["Cache-Control"] == "no-store"
    if expected == 405:
        assert headers["Allow"] == "GET, HEAD"
        assert body == {"error": "Method not allowed"}
    if expected == 404:
        assert body == {"error": "Not found"}


@pytest.mark.parametrize("event", [{}, {"rawPath": 7}, {"requestContext": "x", "rawPath": "/api/health"}])
def test_malformed_events_get_a_json_answer(bare_env: None, event: dict[str, Any]) -> None:
    response = handle(event, LocalContext())
    assert response["statusCode"] in {404, 405}
    assert "error" in json.loads(response["body"])


@pytest.mark.parametrize("path", ["/api/health", "/api/health/ready"])
def test_readiness_contract(env: dict[str, str], path: str) -> None:
    status, headers, body, _ = call("GET", path)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert body["status"] in {"healthy", "degraded"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["latencyMs"] > 0
    assert set(body["pool"]) >= {"active", "idle", "waiting"}
    assert body["services"]["sentry"] is False
    assert body["services"]["databaseUnpooled"] is True


def test_readiness_body_holds_no_credentials(env: dict[str, str], services: LocalStage) -> None:
    _, _, body, _ = call("GET", "/api/health")
    text = json.dumps(body)
    for secret in (services.postgres.password, env[constants.APP_SECRET], env[constants.DATABASE_URL]):
        assert secret not in text
    assert "postgresql://" not in text


def test_head_answers_without_body(env: dict[str, str]) -> None:
    response = handle(build_event("HEAD", "/api/health", [], b"", "127.0.0.1"), LocalContext())
    assert response["statusCode"] == 200
    assert response["body"] == ""


@pytest.mark.drill
def test_pgbouncer_down_answers_503_fast(
    env: dict[str, str], services: LocalStage, report_bound: BoundReport
) -> None:
    assert call("GET", "/api/health")[0] == 200  # warm: the pool holds a connection
    services.pgbouncer.stop()
    try:
        status, _, body, elapsed = call("GET", "/api/health")
    finally:
        services.pgbouncer.start()
    assert status == 503
    assert body["status"] == "unhealthy"
    assert elapsed < CHECK_BOUND_SECONDS
    report_bound("handler: PgBouncer down -> 503 after", elapsed, CHECK_BOUND_SECONDS)


@pytest.mark.drill
def test_postgres_down_answers_503_within_bound_and_recovers(
    env: dict[str, str], services: LocalStage, report_bound: BoundReport
) -> None:
    assert call("GET", "/api/health")[0] == 200
    services.stop_postgres()
    try:
        status, _, body, elapsed = call("GET", "/api/health")
        live_status, _, _, live_elapsed = call("GET", "/api/health/live")
    finally:
        services.start_postgres()
    bound = CHECK_BOUND_SECONDS + ANSWER_SLACK_SECONDS
    assert status == 503
    assert body["checks"]["database"]["status"] == "timeout"
    assert elapsed < bound
    assert live_status == 200  # liveness never touches the database
    assert live_elapsed < 0.1
    report_bound("handler: Postgres down behind PgBouncer -> 503 after", elapsed, bound)

    started = time.monotonic()
    while call("GET", "/api/health")[0] != 200 and time.monotonic() - started < 15:
        time.sleep(0.1)
    recovery = time.monotonic() - started
    assert call("GET", "/api/health")[0] == 200
    report_bound("handler: back to 200 after Postgres restart, same process", recovery)


@pytest.mark.drill
def test_pool_exhausted_answers_503_after_the_timeout(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, report_bound: BoundReport
) -> None:
    from runtime import db

    monkeypatch.setenv(constants.DB_POOL_MAX_SIZE, "2")
    pool = db.get_pool()
    with pool.connection(timeout=30), pool.connection(timeout=30):  # every connection in use
        status, _, body, elapsed = call("GET", "/api/health")
    bound = CHECK_BOUND_SECONDS + ANSWER_SLACK_SECONDS
    assert status == 503
    assert body["checks"]["database"]["status"] == "pool_exhausted"
    assert body["pool"]["active"] == 2
    assert elapsed < bound
    report_bound("handler: pool exhausted -> 503 after", elapsed, bound)
