"""The example app (``app/``) end to end on the local stage: the functions ``Pulumi.yaml`` declares, served on
their routes by ``localstage.functions`` behind ``runtime.serve``, against the real PostgreSQL + PgBouncer of
``tests/fixtures/services.py`` — routes answer, an exhausted pool and a stopped Postgres give 503 with an
error ID, and errors reach a local Sentry sink scrubbed."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from localstage import LocalStage
from localstage.functions import (
    LocalFunctions,
    function_environment,
    local_functions,
    read_config,
    scheduled_event,
)
from runtime import constants, db, errors
from runtime.serve import LocalContext, make_server, serve_in_thread, server_url
from tests.fixtures.sentry_sink import SentrySink

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT_SECONDS = 30
TOKEN = "Bearer planted-token-Zq81xV"
EMAIL = "alice.planted@example.com"

pytestmark = pytest.mark.usefixtures("clean_sentry")


@pytest.fixture
def schema(services: LocalStage) -> None:
    """The example's table, from its migrations (as every stage and ./ballast local get it), emptied."""
    import psycopg

    from dbops import DEFAULT_MIGRATIONS_DIR
    from dbops.migrations import migrate

    migrate(services.direct_url(), REPO_ROOT / DEFAULT_MIGRATIONS_DIR)
    with psycopg.connect(services.direct_url(), autocommit=True) as conn:
        conn.execute("TRUNCATE items RESTART IDENTITY")


@pytest.fixture
def functions(stage_env: dict[str, str], schema: None, monkeypatch: pytest.MonkeyPatch) -> LocalFunctions:
    config = read_config(REPO_ROOT, "staging")
    for name, value in function_environment(config).items():
        monkeypatch.setenv(name, value)
    return local_functions(config, REPO_ROOT)


@contextmanager
def serving(functions: LocalFunctions) -> Iterator[str]:
    """The functions behind a local server on a free port: its base URL, the server stopped after."""
    server = make_server("127.0.0.1", 0, handler=functions, quiet=True)
    serve_in_thread(server)
    try:
        yield server_url(server, "")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def base_url(functions: LocalFunctions) -> Iterator[str]:
    with serving(functions) as url:
        yield url


def call(
    base_url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    url = base_url + path
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def assert_error_response(status: int, headers: dict[str, str], body: Any, expected: int) -> str:
    assert status == expected, body
    assert set(body) == {"error", "errorId"}
    assert re.fullmatch(errors.ERROR_ID_PATTERN, body["errorId"])
    assert headers["X-Request-ID"]
    return str(body["errorId"])


def test_the_routes_read_and_write_the_database(base_url: str) -> None:
    status, _, created = call(base_url, "POST", "/api/items", {"name": "first"})
    assert status == 201
    assert created["name"] == "first"
    call(base_url, "POST", "/api/items", {"name": "second"})

    status, headers, listed = call(base_url, "GET", "/api/items?limit=10")
    assert status == 200
    assert headers["X-Request-ID"]
    assert [item["name"] for item in listed["items"]] == ["second", "first"]
    assert call(base_url, "GET", f"/api/items/{created['id']}")[2] == created  # a {id} route parameter
    assert call(base_url, "GET", "/api/stats")[2]["items"] == 2  # another function, same database
    assert call(base_url, "GET", "/api/health")[0] == 200  # the health check is one of the functions


def test_bad_requests_and_unknown_routes_get_clear_answers(base_url: str) -> None:
    assert call(base_url, "GET", "/api/items?limit=abc")[0] == 400
    assert call(base_url, "POST", "/api/items", b"not json")[0] == 400
    assert call(base_url, "POST", "/api/items", {"name": ""})[0] == 400
    assert call(base_url, "GET", "/api/items/999")[0] == 404  # Powertools' NotFoundError
    status, _, body = call(base_url, "GET", "/api/nothing")
    assert (status, body) == (404, {"message": "Not Found"})  # no route: the gateway's own answer
    assert call(base_url, "DELETE", "/api/items")[2] == {"message": "Not Found"}  # no such method route


def test_the_scheduled_function_deletes_what_is_older_than_its_retention(
    functions: LocalFunctions, services: LocalStage
) -> None:
    import psycopg

    with psycopg.connect(services.direct_url(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO items (name, created_at) VALUES ('old', now() - interval '40 days'), ('new', now())"
        )
    response = functions.invoke("cleanup", scheduled_event("ballast-local-cleanup-schedule"), LocalContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"deleted": 1, "retentionDays": 30}


@pytest.mark.timeout(60)
def test_an_exhausted_pool_answers_503_with_an_error_id(
    stage_env: dict[str, str], schema: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(constants.DB_POOL_MAX_SIZE, "1")
    monkeypatch.setenv(constants.DB_POOL_TIMEOUT_SECONDS, "0.5")
    config = read_config(REPO_ROOT, "staging")
    with serving(local_functions(config, REPO_ROOT)) as url:
        assert call(url, "GET", "/api/stats")[0] == 200  # the pool opens and serves
        with db.connection(timeout=5):  # its only connection, busy elsewhere while the routes are called
            assert_error_response(*call(url, "GET", "/api/items"), 503)
            assert_error_response(*call(url, "POST", "/api/items", {"name": "x"}), 503)
        assert call(url, "GET", "/api/stats")[0] == 200  # and serves again once it is free


@pytest.mark.drill
@pytest.mark.timeout(90)
def test_a_stopped_postgres_answers_503_and_the_error_reaches_sentry_scrubbed(
    stage_env: dict[str, str],
    schema: None,
    sentry_sink: SentrySink,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv(constants.SENTRY_DSN, sentry_sink.dsn)
    monkeypatch.setenv(constants.SENTRY_SAMPLE_RATE, "1.0")
    config = read_config(REPO_ROOT, "staging")
    with serving(local_functions(config, REPO_ROOT)) as url:
        assert call(url, "POST", "/api/items", {"name": "before"})[0] == 201
        request.getfixturevalue("postgres_down")  # stopped now, restarted at teardown
        headers = {"Authorization": TOKEN, "Cookie": f"session={EMAIL}", "X-Request-ID": "req-pg-down"}
        status, response_headers, body = call(url, "POST", "/api/items", {"name": EMAIL}, headers)
        error_id = assert_error_response(status, response_headers, body, 503)
        assert response_headers["X-Request-ID"] == "req-pg-down"

        [event] = sentry_sink.wait_for_events(1, timeout=10)
        assert event["tags"]["error_id"] == error_id
        assert event["tags"]["request_id"] == "req-pg-down"
        assert event["tags"]["error_kind"] == "database_unavailable"
        sent = json.dumps(event)
        for planted in (TOKEN, "planted-token-Zq81xV", EMAIL):
            assert planted not in sent
        assert event["request"]["url"].endswith("/api/items")


def test_a_bug_in_a_route_is_a_500_with_an_error_id(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import items_api  # importable: local_functions put app/items on sys.path, as Lambda does the zip root

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"bug while serving {EMAIL}")

    monkeypatch.setattr(items_api, "connection", broken)
    status, headers, body = call(base_url, "GET", "/api/items")
    assert_error_response(status, headers, body, 500)
    assert EMAIL not in json.dumps(body)  # Powertools re-raised it; @lambda_handler answered generically


def test_concurrent_requests_share_one_pool(base_url: str) -> None:
    results: list[int] = []

    def one() -> None:
        results.append(call(base_url, "POST", "/api/items", {"name": "parallel"})[0])

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT_SECONDS)
    assert results == [201] * 8
    assert call(base_url, "GET", "/api/stats")[2]["items"] == 8
