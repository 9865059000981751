"""The per-invocation JSON line (``runtime.logs``) through the real decorator: the fields the alarms' metric
filters read, and never a secret."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import errors, lambda_handler, logs, scrub
from runtime.decorator import REQUEST_ID_PATTERN
from tests.runtime import test_decorator
from tests.runtime.test_decorator import (
    APP_SECRET,
    DB_PASSWORD,
    Configure,
    database_down_handler,
    failing_handler,
    ok_handler,
    v2_event,
)

pytestmark = pytest.mark.usefixtures("clean_sentry")
configure = test_decorator.configure  # the decorator tests' environment fixture


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_a_success_logs_one_json_line_with_request_id_route_status_and_duration(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("development")
    lambda_handler(ok_handler)(v2_event(path="/api/things", headers={"x-request-id": "req-1"}), None)
    (line,) = lines(capsys)
    assert line.pop(logs.DURATION_FIELD) >= 0
    assert line == {
        "type": "invocation",
        "requestId": "req-1",
        "method": "GET",
        "route": "/api/things",
        "status": 201,
    }


def test_a_500_carries_the_error_id_of_the_answer(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("development")
    response = lambda_handler(failing_handler)(v2_event(), None)
    (line,) = lines(capsys)
    assert line[logs.STATUS_FIELD] == 500
    assert line[logs.ERROR_ID_FIELD] == json.loads(response["body"])["errorId"]
    assert re.match(errors.ERROR_ID_PATTERN, line[logs.ERROR_ID_FIELD])


def test_database_unavailable_is_logged_as_the_503_the_filter_counts(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("development")
    lambda_handler(database_down_handler)(v2_event(), None)
    (line,) = lines(capsys)
    assert line[logs.STATUS_FIELD] == logs.DATABASE_UNAVAILABLE_STATUS
    assert logs.ERROR_ID_FIELD in line


def test_the_line_is_written_even_when_log_level_hides_info(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("development", LOG_LEVEL="ERROR")
    lambda_handler(ok_handler)(v2_event(), None)
    assert len(lines(capsys)) == 1


def test_secrets_in_the_path_or_request_id_never_reach_the_line(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("development")
    scrub.register_secret(APP_SECRET)
    path = f"/api/reset/{APP_SECRET}?password={DB_PASSWORD}"
    lambda_handler(ok_handler)(v2_event(path=path, headers={"x-request-id": APP_SECRET}), None)
    out = capsys.readouterr().out
    assert APP_SECRET not in out
    assert DB_PASSWORD not in out
    assert scrub.FILTERED in out


def test_an_http_api_route_key_is_logged_without_path_values() -> None:
    event = {
        "routeKey": "GET /items/{id}",
        "rawPath": "/items/42",
        "requestContext": {"http": {"method": "GET"}},
    }
    record = json.loads(logs.invocation_line(event, {"statusCode": 200}, request_id="r", duration_ms=1.234))
    assert (record[logs.ROUTE_FIELD], record[logs.DURATION_FIELD]) == ("/items/{id}", 1.23)


def test_odd_events_and_responses_still_log_and_never_raise(capsys: pytest.CaptureFixture[str]) -> None:
    logs.log_invocation(None, {"statusCode": "x", "body": b"\x00"}, request_id="r", started=logs.clock())
    (line,) = lines(capsys)
    assert (line[logs.STATUS_FIELD], line[logs.ROUTE_FIELD]) == (None, "")


def test_the_line_is_no_sentry_breadcrumb(
    configure: Configure, sentry_sink: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Breadcrumbs are kept from INFO outside production: the access line would be one per request (scrubbed,
    and piling up in the process scope that every invocation's fork copies)."""
    configure("staging", sentry_sink)
    lambda_handler(ok_handler)(v2_event(), None)
    lambda_handler(failing_handler)(v2_event(), None)
    assert len(lines(capsys)) == 2
    [sent] = sentry_sink.wait_for_events(1)
    import sentry_sdk

    # The line is written after the invocation scope: it would land in the process scope.
    process_crumbs = list(sentry_sdk.get_isolation_scope()._breadcrumbs)
    for crumb in [*sent.get("breadcrumbs", {}).get("values", []), *process_crumbs]:
        assert f'"{logs.TYPE_FIELD}":"{logs.LINE_TYPE}"' not in str(crumb.get("message"))


@given(
    request_id=st.from_regex(REQUEST_ID_PATTERN, fullmatch=True),
    method=st.one_of(st.text(max_size=10), st.none(), st.integers()),
    path=st.text(max_size=300),
    status=st.one_of(st.integers(min_value=100, max_value=599), st.none(), st.text(max_size=3)),
    duration_ms=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_the_line_is_the_compact_json_of_its_fields(
    request_id: str, method: Any, path: str, status: Any, duration_ms: float
) -> None:
    event = {"rawPath": path, "requestContext": {"http": {"method": method}}}
    error_id = errors.new_error_id()
    response = {"statusCode": status, "body": json.dumps({"errorId": error_id})}
    expected: dict[str, Any] = {
        logs.TYPE_FIELD: logs.LINE_TYPE,
        logs.REQUEST_ID_FIELD: request_id,
        logs.METHOD_FIELD: method if isinstance(method, str) else "",
        logs.ROUTE_FIELD: scrub.scrub_text(path[: logs.MAX_ROUTE_CHARS]),
        logs.STATUS_FIELD: status if isinstance(status, int) else None,
        logs.DURATION_FIELD: round(duration_ms, 2),
    }
    if isinstance(status, int) and status >= 500:
        expected[logs.ERROR_ID_FIELD] = error_id
    line = logs.invocation_line(event, response, request_id=request_id, duration_ms=duration_ms)
    assert line == json.dumps(expected, separators=(",", ":"))
