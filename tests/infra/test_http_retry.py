"""The shared control-plane HTTP helper (infra.providers.http) against a real local server with faults.

The server is the fakes' own machinery with a tiny inline contract, so these tests need no published spec.
Sleep and clock are injected where a test asserts the waits it asked for (Retry-After, backoff); tests that
need real timeouts use real time with sub-second bounds.
"""

from __future__ import annotations

import pickle
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from infra.providers.http import (
    ApiClient,
    ApiError,
    NotFound,
    Redactor,
    RetryPolicy,
    TransportError,
    parse_retry_after,
    recover_create,
)
from tests.fixtures.fake_api import ApiFault, FakeApiServer, Fault, Reply
from tests.fixtures.openapi import Contract, Operation

TOKEN = "tok_live_0123456789abcdef_never_print"
THING = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "retry test API", "version": "1"},
    "paths": {
        "/things": {
            "get": {
                "responses": {"200": _json({"type": "object", "properties": {"things": {"type": "array"}}})}
            },
            "post": {
                "requestBody": _json({"type": "object", "properties": {"name": {"type": "string"}}}),
                "responses": {"201": _json(THING)},
            },
        },
        "/things/{thing_id}": {"get": {"responses": {"200": _json(THING)}}},
    },
}


class ThingsApi(FakeApiServer):
    """Stateful ``/things``; ``echo_error`` makes GET answer 400 quoting text (to test redaction)."""

    service = "things"

    def __init__(self) -> None:
        super().__init__(Contract(SPEC), credential=TOKEN)
        self.things: dict[str, dict[str, Any]] = {}
        self.echo_error: str | None = None

    def error_body(self, status: int, code: str, message: str, request_id: str) -> Any:
        return {"code": code or f"E{status}", "message": message, "request_id": request_id}

    def handle(self, op: Operation, path: str, query: Mapping[str, str], body: Any) -> Reply:
        if op.method == "POST":
            thing = {"id": f"t{len(self.things) + 1}", "name": body["name"]}
            self.things[thing["id"]] = thing
            return Reply(201, thing)
        if self.echo_error is not None:
            raise ApiFault(400, self.echo_error, "INVALID")
        if op.template == "/things":
            return Reply(200, {"things": list(self.things.values())})
        thing_id = path.rsplit("/", 1)[1]
        if thing_id not in self.things:
            raise ApiFault(404, f"thing {thing_id} not found", "NOT_FOUND")
        return Reply(200, self.things[thing_id])


class FakeTime:
    """Injected clock + sleep: records every wait, advances time without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def api() -> Iterator[ThingsApi]:
    with ThingsApi() as server:
        yield server


POLICY = RetryPolicy(
    max_attempts=5,
    base_delay_seconds=0.2,
    max_delay_seconds=2.0,
    deadline_seconds=30.0,
    connect_timeout_seconds=1.0,
    read_timeout_seconds=1.0,
)


def client(api: ThingsApi, fake_time: FakeTime | None = None, policy: RetryPolicy = POLICY) -> ApiClient:
    if fake_time is None:
        return ApiClient(service="Things", base_url=api.origin, credential=TOKEN, policy=policy)
    return ApiClient(
        service="Things",
        base_url=api.origin,
        credential=TOKEN,
        policy=policy,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        jitter=lambda: 0.5,
        auth_hint="check THINGS_TOKEN",
    )


def test_success_sends_bearer_token_and_decodes_json(api: ThingsApi) -> None:
    with client(api) as things:
        made = things.post("things", {"name": "a"})
        assert things.get(f"things/{made['id']}") == {"id": "t1", "name": "a"}
    assert api.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert api.violations == []


def test_423_is_retried_with_exponential_jittered_backoff_until_it_converges(api: ThingsApi) -> None:
    fault = api.inject(Fault(status=423, code="LOCKED", times=3))
    fake_time = FakeTime()
    with client(api, fake_time) as things:
        assert things.get("things") == {"things": []}
    assert fault.hits == 3
    # jitter 0.5 → three quarters of each ceiling: 0.2, 0.4, 0.8 → 0.15, 0.3, 0.6
    assert fake_time.sleeps == pytest.approx([0.15, 0.3, 0.6])


def test_429_waits_at_least_retry_after_seconds_and_http_dates_work_too(api: ThingsApi) -> None:
    api.inject(Fault(status=429, retry_after="7", times=1))
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=12), usegmt=True)
    api.inject(Fault(status=429, retry_after=when, times=1))
    fake_time = FakeTime()
    with client(api, fake_time) as things:
        assert things.get("things") == {"things": []}
    assert fake_time.sleeps[0] == pytest.approx(7.0)
    assert 10.0 <= fake_time.sleeps[1] <= 12.5


def test_retry_after_past_the_deadline_fails_at_once_and_says_why(api: ThingsApi) -> None:
    api.inject(Fault(status=429, retry_after="600", code="RATE_LIMITED", message="slow down", times=5))
    fake_time = FakeTime()
    with client(api, fake_time) as things, pytest.raises(ApiError) as caught:
        things.get("things")
    assert fake_time.sleeps == []
    error = caught.value
    assert (error.status, error.code, error.message) == (429, "RATE_LIMITED", "slow down")
    assert error.request_id
    assert error.request_id.startswith("things-req-")
    assert "would pass the 30s deadline" in str(error)


def test_exhausted_retries_name_status_code_message_request_id_and_attempts(api: ThingsApi) -> None:
    api.inject(Fault(status=503, code="UNAVAILABLE", message="maintenance", times=100))
    fake_time = FakeTime()
    with client(api, fake_time) as things, pytest.raises(ApiError) as caught:
        things.get("things")
    text = str(caught.value)
    assert caught.value.attempts == POLICY.max_attempts == len(fake_time.sleeps) + 1
    assert "Things API GET /things failed: HTTP 503 UNAVAILABLE: maintenance" in text
    assert "request_id things-req-" in text
    assert f"gave up after {POLICY.max_attempts} attempts" in text


def test_5xx_is_retried_for_get_but_a_post_is_never_blindly_repeated(api: ThingsApi) -> None:
    api.inject(Fault(status=502, method="GET", times=2))
    api.inject(Fault(status=500, method="POST", times=1))
    fake_time = FakeTime()
    with client(api, fake_time) as things:
        assert things.get("things") == {"things": []}
        with pytest.raises(ApiError) as caught:
            things.post("things", {"name": "a"})
    assert caught.value.ambiguous
    assert caught.value.attempts == 1
    assert sum(1 for r in api.requests if r.method == "POST") == 1


def test_503_and_423_are_retried_even_for_post_since_the_server_did_not_act(api: ThingsApi) -> None:
    api.inject(Fault(status=503, method="POST", times=1))
    api.inject(Fault(status=423, method="POST", times=1))
    with client(api, FakeTime()) as things:
        assert things.post("things", {"name": "a"})["id"] == "t1"
    assert len(api.things) == 1


def test_dropped_connection_is_retried_for_get_and_ambiguous_for_post(api: ThingsApi) -> None:
    api.inject(Fault(kind="drop", method="GET", times=2))
    api.inject(Fault(kind="drop_after", method="POST", times=1))
    with client(api, FakeTime()) as things:
        assert things.get("things") == {"things": []}
        with pytest.raises(TransportError) as caught:
            things.post("things", {"name": "a"})
    assert caught.value.ambiguous
    assert caught.value.status is None
    assert "may have reached the server" in str(caught.value)
    assert len(api.things) == 1  # it did: which is why the caller must reconcile, not repeat


def test_recover_create_adopts_what_a_lost_response_created_instead_of_creating_twice(api: ThingsApi) -> None:
    api.inject(Fault(kind="drop_after", method="POST", times=1))
    with client(api, FakeTime()) as things:

        def find() -> dict[str, Any] | None:
            found = [t for t in things.get("things")["things"] if t["name"] == "only"]
            return found[0] if found else None

        made = recover_create(lambda: things.post("things", {"name": "only"}), find)
    assert made["name"] == "only"
    assert [t["name"] for t in api.things.values()] == ["only"]


def test_recover_create_tries_again_when_nothing_was_made(api: ThingsApi) -> None:
    api.inject(Fault(kind="drop", method="POST", times=1))
    with client(api, FakeTime()) as things:
        made = recover_create(lambda: things.post("things", {"name": "x"}), lambda: None)
    assert made["id"] == "t1"
    assert len(api.things) == 1


def test_slow_response_times_out_per_attempt_and_is_retried(api: ThingsApi) -> None:
    api.inject(Fault(kind="slow", method="GET", delay=1.5, times=1))
    policy = RetryPolicy(
        max_attempts=3, base_delay_seconds=0.01, deadline_seconds=5.0, read_timeout_seconds=0.3
    )
    started = time.monotonic()
    with client(api, policy=policy) as things:
        assert things.get("things") == {"things": []}
    elapsed = time.monotonic() - started
    assert elapsed < 1.2, f"the read timeout was not applied: {elapsed:.2f}s"
    print(
        f"[bound] slow response: recovered after a {policy.read_timeout_seconds}s timeout in {elapsed:.2f}s"
    )


def test_total_deadline_bounds_a_slow_api_even_with_attempts_left(api: ThingsApi) -> None:
    api.inject(Fault(kind="slow", method="GET", delay=2.0, times=100))
    policy = RetryPolicy(
        max_attempts=50, base_delay_seconds=0.01, deadline_seconds=1.0, read_timeout_seconds=0.4
    )
    started = time.monotonic()
    with client(api, policy=policy) as things, pytest.raises(TransportError) as caught:
        things.get("things")
    elapsed = time.monotonic() - started
    assert caught.value.code == "timeout"
    assert elapsed < policy.deadline_seconds + policy.read_timeout_seconds + 0.5
    print(f"[bound] deadline {policy.deadline_seconds}s held: gave up after {elapsed:.2f}s")


def test_connection_refused_is_retried_even_for_post_then_fails_clearly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake_time = FakeTime()
    things = ApiClient(
        service="Things",
        base_url=f"http://127.0.0.1:{port}",
        credential=TOKEN,
        policy=POLICY,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    with things, pytest.raises(TransportError) as caught:
        things.post("things", {"name": "a"})
    assert not caught.value.ambiguous
    assert caught.value.attempts == POLICY.max_attempts
    assert "no connection" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_404_is_notfound_and_not_retried(api: ThingsApi) -> None:
    fake_time = FakeTime()
    with client(api, fake_time) as things, pytest.raises(NotFound) as caught:
        things.get("things/t404")
    assert (caught.value.status, caught.value.code) == (404, "NOT_FOUND")
    assert fake_time.sleeps == []


def test_401_adds_the_hint_and_the_token_never_appears(api: ThingsApi) -> None:
    fake_time = FakeTime()
    wrong = ApiClient(
        service="Things",
        base_url=api.origin,
        credential=TOKEN + "-revoked",
        policy=POLICY,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        auth_hint="check THINGS_TOKEN",
    )
    with wrong, pytest.raises(ApiError) as caught:
        wrong.get("things")
    assert caught.value.status == 401
    assert fake_time.sleeps == []
    assert "check THINGS_TOKEN" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value.args)


def test_server_messages_echoing_the_token_or_url_passwords_are_redacted(api: ThingsApi) -> None:
    api.echo_error = f"token {TOKEN} rejected for postgresql://app:hunter2secret@db.example/app"
    with client(api, FakeTime()) as things, pytest.raises(ApiError) as caught:
        things.get("things")
    text = str(caught.value)
    assert TOKEN not in text
    assert "hunter2secret" not in text
    assert "token [Filtered] rejected" in text
    assert "postgresql://app:[Filtered]@db.example/app" in text


def test_clients_and_sessions_refuse_to_be_pickled_into_state(api: ThingsApi) -> None:
    with client(api) as things:
        with pytest.raises(TypeError, match="never be serialised"):
            pickle.dumps(things)
        with pytest.raises(TypeError, match="never be serialised"):
            pickle.dumps(things.session)


def test_parse_retry_after_and_backoff_bounds() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    policy = RetryPolicy(base_delay_seconds=1.0, max_delay_seconds=5.0)
    assert [policy.backoff(n, 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert [policy.backoff(n, 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_redactor_ignores_trivially_short_values() -> None:
    redact = Redactor(["", "ab", "longer-secret"])
    assert redact("ab longer-secret") == "ab [Filtered]"
