"""``from runtime import lambda_handler``: request IDs, generic error bodies, Sentry events read back from a
local sink, no PII anywhere, and a bounded cost when Sentry is unreachable."""

from __future__ import annotations

import base64
import json
import logging
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk

from localstage import LocalStage
from runtime import constants, decorator, errors, lambda_handler, observability, scrub
from runtime.db import DatabaseUnavailable
from tests.fixtures.sentry_bugsink import Bugsink
from tests.fixtures.sentry_sink import SentrySink, SinkMode

DB_PASSWORD = "npg_Zq8vT3xLw9Kd"
DB_URL = f"postgresql://neondb_owner:{DB_PASSWORD}@ep-quiet-sun-123456.eu-central-1.aws.neon.tech/neondb"
APP_SECRET = "q7Vt1Rk9Lm3Xz5Bw8Nc2Hd6Fj4Gs0PaE"
EMAIL = "ada.lovelace@example.org"
BEARER = "eyJraWQiOiJrMSJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz"
SESSION_COOKIE = "s3ss10n-c00kie-value"
CONTEXT_TOKEN = "tok_8f14e45fceea167a5a36dedd4bea2543"
BODY_PASSWORD = "body-hunter2-pw"
BREADCRUMB_PASSWORD = "crumb-pw-9876"
PLANTED = (
    DB_PASSWORD,
    APP_SECRET,
    EMAIL,
    BEARER,
    SESSION_COOKIE,
    CONTEXT_TOKEN,
    BODY_PASSWORD,
    BREADCRUMB_PASSWORD,
)
FLUSH_BOUND = 0.5
SLACK_SECONDS = 0.35  # thread scheduling on a shared 2-core box

SinkFactory = Callable[..., SentrySink]
Configure = Callable[..., None]

pytestmark = pytest.mark.usefixtures("clean_sentry")


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """``configure(stage, sink=None, **env)``: a process environment for the decorator, settings re-read."""
    from runtime.settings import reset_settings

    def apply(stage: str = "staging", sink: SentrySink | None = None, **env: str) -> None:
        for name in (constants.AWS_LAMBDA_FUNCTION_NAME, constants.SENTRY_RELEASE, constants.SENTRY_DSN):
            monkeypatch.delenv(name, raising=False)
        values = {
            constants.BALLAST_STAGE: stage,
            constants.DATABASE_URL: DB_URL,
            constants.APP_SECRET: APP_SECRET,
            constants.SENTRY_SAMPLE_RATE: "1.0",
            constants.SENTRY_TRACES_SAMPLE_RATE: "0",
            constants.SENTRY_FLUSH_TIMEOUT_SECONDS: str(FLUSH_BOUND),
            constants.LOG_LEVEL: "INFO",
            **({constants.SENTRY_DSN: sink.dsn} if sink is not None else {}),
            **env,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_settings()

    yield apply
    reset_settings()


def v2_event(
    *,
    method: str = "GET",
    path: str = "/api/things",
    headers: dict[str, str] | None = None,
    body: str | None = None,
    cookies: list[str] | None = None,
    base64_body: bool = False,
    query: str = "",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.eu-central-1.on.aws", **(headers or {})},
        "requestContext": {
            "domainName": "abc.lambda-url.eu-central-1.on.aws",
            "http": {"method": method, "path": path},
        },
        "isBase64Encoded": base64_body,
    }
    if body is not None:
        event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    if cookies:
        event["cookies"] = cookies
    return event


def ok_handler(event: Any, context: Any) -> dict[str, Any]:
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "x-request-id": "spoofed"},
        "body": "ok",
    }


def failing_handler(event: Any, context: Any) -> dict[str, Any]:
    raise RuntimeError(f"could not reach {DB_URL} for {EMAIL}")


def database_down_handler(event: Any, context: Any) -> dict[str, Any]:
    raise DatabaseUnavailable("the database did not answer within 2.0 s")


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


# --- public API -----------------------------------------------------------------------------------------


def test_the_public_decorator_is_exported_lazily() -> None:
    import runtime

    assert runtime.lambda_handler is decorator.lambda_handler
    assert "lambda_handler" in dir(runtime)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = runtime.no_such_name


def test_importing_the_runtime_stays_light() -> None:
    code = (
        "import sys, runtime; from runtime import lambda_handler;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sentry_sdk', 'pydantic', 'psycopg',"
        " 'psycopg_pool', 'pydantic_settings'));"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


# --- request IDs ----------------------------------------------------------------------------------------


def test_success_passes_through_with_the_callers_request_id(configure: Configure) -> None:
    configure("development")
    handler = lambda_handler(ok_handler)
    response = handler(v2_event(headers={"X-Request-Id": "req-7f3a.42:abc_Z"}), None)
    assert response["statusCode"] == 201
    assert response["body"] == "ok"
    assert response["headers"] == {"Content-Type": "text/plain", "X-Request-ID": "req-7f3a.42:abc_Z"}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "has space",
        "x" * 129,
        "<script>",
        EMAIL,
        "a,b",
        "line\nbreak",
        "ünïcode",
        "4111-1111-1111-1111",
    ],
)
def test_insane_or_missing_request_ids_are_replaced(configure: Configure, header: str | None) -> None:
    configure("development")
    headers = {"x-request-id": header} if header is not None else {}
    response = lambda_handler(ok_handler)(v2_event(headers=headers), None)
    request_id = response["headers"]["X-Request-ID"]
    assert uuid.UUID(request_id).version == 4
    assert request_id != header


def test_a_registered_secret_sent_as_request_id_is_replaced(configure: Configure) -> None:
    configure("development")
    scrub.register_secret(APP_SECRET)
    try:
        response = lambda_handler(ok_handler)(v2_event(headers={"x-request-id": APP_SECRET}), None)
    finally:
        scrub.forget_registered_secrets()
    assert uuid.UUID(response["headers"]["X-Request-ID"]).version == 4


@pytest.mark.parametrize(
    ("result", "body"),
    [({"ok": True}, '{"ok": true}'), ([1, 2], "[1, 2]"), ("plain", "plain"), (None, "null")],
)
def test_plain_results_become_json_responses(configure: Configure, result: Any, body: str) -> None:
    configure("development")
    response = lambda_handler(lambda event, context: result)(v2_event(), None)
    assert response["statusCode"] == 200
    assert response["body"] == body
    assert response["headers"]["Content-Type"] == "application/json"
    assert "X-Request-ID" in response["headers"]


def test_called_form_of_the_decorator(configure: Configure) -> None:
    configure("development")

    @lambda_handler(eager=False)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 204, "body": ""}

    assert handler(v2_event(), None)["statusCode"] == 204
    assert handler.__name__ == "handler"


# --- errors ---------------------------------------------------------------------------------------------


def test_uncaught_exception_is_a_generic_500_whose_error_id_is_tagged_in_sentry(
    configure: Configure, sentry_sink: SentrySink
) -> None:
    configure("staging", sentry_sink)
    response = lambda_handler(failing_handler)(v2_event(headers={"x-request-id": "req-500"}), None)

    assert response["statusCode"] == 500
    body = _body(response)
    assert set(body) == {"error", "errorId"}
    assert body["error"] == "Something went wrong"
    assert re.fullmatch(errors.ERROR_ID_PATTERN, body["errorId"])
    assert response["headers"]["X-Request-ID"] == "req-500"
    assert response["headers"]["Cache-Control"] == "no-store"
    for technical in ("RuntimeError", "could not reach", "neondb", "Traceback"):
        assert technical not in response["body"]

    [event] = sentry_sink.wait_for_events(1)
    assert event["tags"]["error_id"] == body["errorId"]
    assert event["tags"]["request_id"] == "req-500"
    assert event["tags"]["error_kind"] == "unhandled"
    assert event["environment"] == "staging"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"


def test_database_unavailable_is_a_503(configure: Configure, sentry_sink: SentrySink) -> None:
    configure("staging", sentry_sink)
    response = lambda_handler(database_down_handler)(v2_event(), None)
    assert response["statusCode"] == 503
    body = _body(response)
    assert body == {"error": "Service temporarily unavailable", "errorId": body["errorId"]}
    [event] = sentry_sink.wait_for_events(1)
    assert event["tags"]["error_id"] == body["errorId"]
    assert event["tags"]["error_kind"] == "database_unavailable"


def test_errors_are_logged_with_their_ids_and_scrubbed(
    configure: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    configure("development")
    with caplog.at_level(logging.INFO):
        response = lambda_handler(failing_handler)(v2_event(headers={"x-request-id": "req-log"}), None)
    error_id = _body(response)["errorId"]
    assert f"{error_id} unhandled: RuntimeError (request req-log" in caplog.text
    assert "could not reach postgresql://neondb_owner:[Filtered]@ep-quiet-sun" in caplog.text  # the traceback
    for secret in (DB_PASSWORD, EMAIL):
        assert secret not in caplog.text


def test_every_path_ends_with_the_invocation_flush(
    configure: Configure, sentry_sink: SentrySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure("staging", sentry_sink)
    waits: list[int] = []
    real_flush = observability.Invocation.flush

    def counting_flush(self: observability.Invocation) -> None:
        waits.append(self.captured_events())
        real_flush(self)

    monkeypatch.setattr(observability.Invocation, "flush", counting_flush)
    for handler in (ok_handler, failing_handler, database_down_handler):
        lambda_handler(handler)(v2_event(), None)
    assert waits == [0, 1, 1]  # called on every path; only the failing ones had an event to wait for
    assert len(sentry_sink.events()) == 2  # delivered before the responses returned, no extra wait needed


# --- PII never leaves -----------------------------------------------------------------------------------


def pii_handler(event: Any, context: Any) -> dict[str, Any]:
    logging.getLogger("app.login").warning("retry login with password=%s", BREADCRUMB_PASSWORD)
    sentry_sdk.set_context("account", {"token": CONTEXT_TOKEN, "owner": EMAIL})
    sentry_sdk.set_user({"id": "user-1", "email": EMAIL})
    conninfo = DB_URL  # a frame variable, sent with the stack trace
    raise ConnectionError(f"login for {EMAIL} failed: could not connect to {conninfo} (secret {APP_SECRET})")


@pytest.mark.parametrize("base64_body", [False, True])
def test_planted_pii_never_reaches_the_sink_the_response_or_the_logs(
    configure: Configure,
    sentry_sink: SentrySink,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    base64_body: bool,
) -> None:
    configure("staging", sentry_sink)
    body = json.dumps({"email": EMAIL, "password": BODY_PASSWORD, "padding": "p" * 4000})
    event = v2_event(
        method="POST",
        path="/api/login",
        query=f"email={EMAIL}&token={CONTEXT_TOKEN}&page=2",
        headers={"authorization": f"Bearer {BEARER}", "cookie": f"sid={SESSION_COOKIE}"},
        cookies=[f"sid={SESSION_COOKIE}"],
        body=body,
        base64_body=base64_body,
    )
    with caplog.at_level(logging.INFO):
        response = lambda_handler(pii_handler)(event, None)

    [sent] = sentry_sink.wait_for_events(1)
    received = sentry_sink.received_bytes().decode()
    outputs = {
        "sink": received,
        "response": json.dumps(response),
        "logs": caplog.text,
        "stderr": capsys.readouterr().err,
    }
    for where, text in outputs.items():
        for secret in PLANTED:
            assert secret not in text, f"{secret!r} leaked into the {where}"

    # ...and the event still carries what helps debugging, with the holes where secrets were.
    assert sent["tags"]["error_id"] == _body(response)["errorId"]
    request = sent["request"]
    assert request["method"] == "POST"
    assert request["headers"]["authorization"] == "[Filtered]"
    assert request["headers"]["cookie"] == "[Filtered]"
    assert request["cookies"] == "[Filtered]"
    assert request["query_string"] == "email=[Filtered]&token=[Filtered]&page=2"
    assert request["data"].startswith('{"email": "[Filtered]", "password": "[Filtered]", "padding": "ppp')
    assert len(request["data"].encode()) <= 1024
    assert sent["contexts"]["account"] == {"token": "[Filtered]", "owner": "[Filtered]"}
    crumbs = [
        crumb["message"] for crumb in sent["breadcrumbs"]["values"] if crumb.get("category") == "app.login"
    ]
    assert crumbs == ["retry login with password=[Filtered]"]
    frames = sent["exception"]["values"][-1]["stacktrace"]["frames"]
    assert any(
        frame.get("vars", {}).get("conninfo", "").startswith("'postgresql://neondb_owner:[Filtered]@")
        for frame in frames
    )


def test_get_requests_send_no_body(configure: Configure, sentry_sink: SentrySink) -> None:
    configure("staging", sentry_sink)
    lambda_handler(failing_handler)(v2_event(method="GET", body="q=1"), None)
    [sent] = sentry_sink.wait_for_events(1)
    assert "data" not in sent["request"]


def test_invocations_do_not_share_breadcrumbs_or_tags(configure: Configure, sentry_sink: SentrySink) -> None:
    configure("staging", sentry_sink)

    def first(event: Any, context: Any) -> dict[str, Any]:
        logging.getLogger("app").warning("from the first invocation")
        sentry_sdk.set_tag("tenant", "first")
        return {"statusCode": 200, "body": ""}

    lambda_handler(first)(v2_event(headers={"x-request-id": "req-1"}), None)
    lambda_handler(failing_handler)(v2_event(headers={"x-request-id": "req-2"}), None)
    [sent] = sentry_sink.wait_for_events(1)
    assert sent["tags"]["request_id"] == "req-2"
    assert "tenant" not in sent["tags"]
    messages = [crumb.get("message") for crumb in sent.get("breadcrumbs", {}).get("values", [])]
    assert "from the first invocation" not in messages


# --- an unreachable Sentry ------------------------------------------------------------------------------


def _response_times(handler: Callable[[Any, Any], Any], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.monotonic()
        response = handler(v2_event(), None)
        times.append(time.monotonic() - started)
        assert response["statusCode"] in (200, 201, 500)
    return times


@pytest.mark.drill
@pytest.mark.parametrize("mode", [SinkMode.DOWN, SinkMode.BLACK_HOLE])
def test_unreachable_sentry_adds_at_most_the_flush_bound(
    configure: Configure, sentry_sink_factory: SinkFactory, mode: SinkMode
) -> None:
    healthy = sentry_sink_factory(SinkMode.NORMAL)
    configure("staging", healthy)
    baseline = statistics.median(_response_times(lambda_handler(failing_handler), 5))
    decorator.reset_process()

    sink = sentry_sink_factory(mode)
    configure("staging", sink)
    failing = _response_times(lambda_handler(failing_handler), 4)
    succeeding = _response_times(lambda_handler(ok_handler), 4)
    added = [t - baseline for t in failing]
    print(
        f"[sentry {mode.value}] flush bound {FLUSH_BOUND:.2f} s; 500 responses took "
        + ", ".join(f"{t:.3f}" for t in failing)
        + f" s (healthy-Sentry baseline {baseline:.3f} s, added max {max(added):.3f} s); "
        + "successful responses "
        + ", ".join(f"{t:.3f}" for t in succeeding)
        + " s"
    )
    assert max(added) <= FLUSH_BOUND + SLACK_SECONDS
    assert max(succeeding) <= 0.1  # nothing captured, nothing to wait for
    if mode is SinkMode.BLACK_HOLE:
        assert sink.connections_held >= 1
        assert min(failing) >= FLUSH_BOUND * 0.8  # the bound, not luck, is what returned


# --- settings -------------------------------------------------------------------------------------------


def test_no_dsn_in_development_runs_with_sentry_off_and_a_warning(
    configure: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    configure("development")
    with caplog.at_level(logging.WARNING):
        response = lambda_handler(failing_handler)(v2_event(), None)
    assert response["statusCode"] == 500
    assert not observability.sentry_enabled()
    assert any("Sentry is disabled" in record.getMessage() for record in caplog.records)


def _broken_production(configure: Configure) -> None:
    configure(
        "production",
        **{
            constants.DATABASE_URL: f"postgresql://app:{DB_PASSWORD}@localhost:5432/app",
            constants.APP_SECRET: "short-secret",
        },
    )


def test_bad_production_settings_fail_the_cold_start_on_lambda(
    configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.settings import SettingsError

    _broken_production(configure)
    monkeypatch.setenv(constants.AWS_LAMBDA_FUNCTION_NAME, "ballast-health")
    with pytest.raises(SettingsError) as raised:
        lambda_handler(ok_handler)  # at import of the handler module: a Lambda init error
    message = str(raised.value)
    assert constants.DATABASE_URL in message
    assert DB_PASSWORD not in message
    assert "short-secret" not in message


def test_bad_production_settings_refuse_the_first_call_elsewhere(configure: Configure) -> None:
    from runtime.settings import SettingsError

    _broken_production(configure)
    handler = lambda_handler(ok_handler)  # no side effect at import outside Lambda
    with pytest.raises(SettingsError):
        handler(v2_event(), None)
    with pytest.raises(SettingsError):  # and keeps refusing: never serves with a broken configuration
        handler(v2_event(), None)


# --- a real Sentry-compatible server -------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_sentry_compatible_server_stores_the_scrubbed_event(
    configure: Configure, bugsink: Bugsink, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure("staging")
    monkeypatch.setenv(constants.SENTRY_DSN, bugsink.dsn)
    monkeypatch.setenv(constants.SENTRY_FLUSH_TIMEOUT_SECONDS, "5")
    from runtime.settings import reset_settings

    reset_settings()
    event = v2_event(
        method="POST",
        headers={"authorization": f"Bearer {BEARER}", "x-request-id": "req-bugsink"},
        body=json.dumps({"email": EMAIL, "password": BODY_PASSWORD}),
    )
    response = lambda_handler(pii_handler)(event, None)
    error_id = _body(response)["errorId"]

    stored = [e for e in bugsink.wait_for_events(1) if e.get("tags", {}).get("error_id") == error_id]
    assert len(stored) == 1, "Bugsink did not store the event tagged with the response's error ID"
    [sent] = stored
    assert sent["environment"] == "staging"
    assert sent["tags"]["request_id"] == "req-bugsink"
    text = json.dumps(sent)
    for secret in PLANTED:
        assert secret not in text
    assert "could not connect to postgresql://neondb_owner:[Filtered]@" in text


# --- the README's handler pattern on the real stack: bounded by the invocation ---------------------------

INVOCATION_SECONDS = 2.0  # the Lambda timeout the context counts down from
STAGE_FLUSH_BOUND = 0.5
# Database calls give up the flush bound and the answer margin before the invocation's end.
DATABASE_BOUND = INVOCATION_SECONDS - STAGE_FLUSH_BOUND - constants.ANSWER_MARGIN_SECONDS


@lambda_handler
def readme_handler(event: Any, context: Any) -> Any:
    """Exactly the README's pattern: one query through get_pool().connection()."""
    from runtime import get_pool

    with get_pool().connection() as conn:
        rows = conn.execute("select 1 as id, 'one' as name").fetchall()
    return {"items": [dict(id=r[0], name=r[1]) for r in rows]}


@pytest.fixture
def stage_with_sentry(
    stage_env: dict[str, str], sentry_sink: SentrySink, monkeypatch: pytest.MonkeyPatch
) -> SentrySink:
    monkeypatch.setenv(constants.SENTRY_DSN, sentry_sink.dsn)
    monkeypatch.setenv(constants.SENTRY_FLUSH_TIMEOUT_SECONDS, str(STAGE_FLUSH_BOUND))
    monkeypatch.setenv(constants.SENTRY_TRACES_SAMPLE_RATE, "0")
    monkeypatch.setenv(constants.DB_POOL_MAX_SIZE, "2")
    return sentry_sink


def _invoke_readme() -> tuple[dict[str, Any], float]:
    from runtime.serve import LocalContext

    context = LocalContext(deadline=time.monotonic() + INVOCATION_SECONDS)
    started = time.monotonic()
    response = readme_handler(v2_event(path="/api/items"), context)
    return response, time.monotonic() - started


def _assert_503_reported(response: dict[str, Any], sink: SentrySink) -> None:
    assert response["statusCode"] == 503
    body = _body(response)
    assert body["error"] == "Service temporarily unavailable"
    [event] = [e for e in sink.wait_for_events(1) if e["tags"].get("error_id") == body["errorId"]]
    assert event["tags"]["error_kind"] == "database_unavailable"
    assert event["contexts"]["lambda"]["function_name"] == "ballast-local"


def test_the_readme_pattern_is_one_round_trip_when_warm(
    stage_with_sentry: SentrySink, services: LocalStage
) -> None:
    """Counted by PgBouncer: the one query, nothing else (no liveness check, no BEGIN/COMMIT)."""
    from tests.runtime.test_db import query_count

    assert _invoke_readme()[0]["statusCode"] == 200
    before = query_count(services)
    for _ in range(5):
        response, _ = _invoke_readme()
        assert _body(response) == {"items": [{"id": 1, "name": "one"}]}
    assert query_count(services) - before == 5


@pytest.mark.drill
def test_the_readme_pattern_answers_503_in_time_with_postgres_down(
    stage_with_sentry: SentrySink, report_bound: Any, request: pytest.FixtureRequest
) -> None:
    assert _invoke_readme()[0]["statusCode"] == 200  # warm: its connection is taken without a check
    request.getfixturevalue("postgres_down")  # PgBouncer still accepts; the query waits for a server
    response, elapsed = _invoke_readme()
    _assert_503_reported(response, stage_with_sentry)
    assert elapsed < DATABASE_BOUND + STAGE_FLUSH_BOUND + SLACK_SECONDS
    assert elapsed < INVOCATION_SECONDS, "answered after the Lambda timeout"
    report_bound("README handler, Postgres down -> 503 after", elapsed, INVOCATION_SECONDS)


@pytest.mark.drill
def test_the_readme_pattern_answers_503_in_time_with_the_pool_exhausted(
    stage_with_sentry: SentrySink, report_bound: Any
) -> None:
    from runtime import db

    pool = db.get_pool()
    with pool.connection(timeout=30), pool.connection(timeout=30):  # both connections busy elsewhere
        response, elapsed = _invoke_readme()
    _assert_503_reported(response, stage_with_sentry)
    assert DATABASE_BOUND - 0.1 <= elapsed < INVOCATION_SECONDS
    report_bound("README handler, pool exhausted -> 503 after", elapsed, INVOCATION_SECONDS)


def test_a_hung_invocation_is_reported_before_its_lambda_timeout(
    configure: Configure, sentry_sink: SentrySink
) -> None:
    """The decorator arms the timeout warning from the Lambda context: 1.2 s left, a 0.5 s flush bound."""
    from runtime.serve import LocalContext

    configure("staging", sentry_sink)

    @lambda_handler
    def hung(event: Any, context: Any) -> dict[str, Any]:
        time.sleep(1.0)  # past the warning (0.7 s), short of the timeout (1.2 s)
        return {"statusCode": 200, "body": ""}

    context = LocalContext(deadline=time.monotonic() + 1.2)
    response = hung(v2_event(headers={"x-request-id": "req-hung"}), context)
    assert response["statusCode"] == 200
    [event] = sentry_sink.wait_for_events(1)
    assert event["level"] == "warning"
    assert event["tags"]["request_id"] == "req-hung"
    assert event["tags"]["error_kind"] == observability.TIMEOUT_WARNING_KIND
    assert event["contexts"]["lambda"]["aws_request_id"] == context.aws_request_id
