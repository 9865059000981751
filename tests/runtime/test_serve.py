"""runtime.serve: HTTP requests become function-URL (v2) events, responses go back as sent; loopback only."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from runtime import serve
from runtime.handler import route


def test_event_carries_method_path_query_headers_and_cookies() -> None:
    event = serve.build_event(
        "get",
        "/api/items%20x?page=2&tag=a&tag=b",
        [("X-Request-ID", "abc"), ("Cookie", "a=1; b=2"), ("Accept", "text/html"), ("accept", "*/*")],
        b"",
        "127.0.0.1",
    )
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/api/items x"
    assert event["rawQueryString"] == "page=2&tag=a&tag=b"
    assert event["queryStringParameters"] == {"page": "2", "tag": "a,b"}
    assert event["headers"] == {"x-request-id": "abc", "accept": "text/html,*/*"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_binary_body_is_base64() -> None:
    text = serve.build_event("POST", "/", [], b'{"a": 1}', "127.0.0.1")
    binary = serve.build_event("POST", "/", [], b"\xff\x00", "127.0.0.1")
    assert (text["body"], text["isBase64Encoded"]) == ('{"a": 1}', False)
    assert (base64.b64decode(binary["body"]), binary["isBase64Encoded"]) == (b"\xff\x00", True)


def test_response_parts_decode_base64_and_cookies() -> None:
    status, headers, body = serve.response_parts(
        {
            "statusCode": 201,
            "headers": {"X-A": "1"},
            "cookies": ["s=1"],
            "body": "aGk=",
            "isBase64Encoded": True,
        }
    )
    assert (status, body) == (201, b"hi")
    assert ("X-A", "1") in headers
    assert ("Set-Cookie", "s=1") in headers


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "0", "192.0.2.10"])
def test_non_loopback_bind_is_refused(host: str) -> None:
    with pytest.raises(serve.RemoteBindRefused, match="--allow-remote"):
        serve.check_bind_host(host, allow_remote=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_bind_is_allowed(host: str) -> None:
    serve.check_bind_host(host, allow_remote=False)


def test_remote_bind_needs_the_explicit_flag() -> None:
    serve.check_bind_host("0.0.0.0", allow_remote=True)
    result = subprocess.run(
        [sys.executable, "-m", "runtime.serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0'" in result.stderr
    assert "Traceback" not in result.stderr


def echo_handler(event: dict[str, Any], context: Any) -> Mapping[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"event": event, "remainingMs": context.get_remaining_time_in_millis()}),
    }


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = serve.make_server("127.0.0.1", 0, handler=echo_handler, quiet=True)
    serve.serve_in_thread(server)
    yield serve.server_url(server, "")
    server.shutdown()
    server.server_close()


def test_server_turns_requests_into_events(echo_server: str) -> None:
    response = requests.put(
        f"{echo_server}/api/things?x=1", data=b"hello", headers={"X-Request-ID": "r-1"}, timeout=5
    )
    body = response.json()
    event = body["event"]
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert (event["rawPath"], event["rawQueryString"], event["body"]) == ("/api/things", "x=1", "hello")
    assert event["headers"]["x-request-id"] == "r-1"
    assert 0 < body["remainingMs"] <= serve.LOCAL_TIMEOUT_SECONDS * 1000


@pytest.fixture
def health_server() -> Iterator[str]:
    server = serve.make_server("127.0.0.1", 0, handler=route, quiet=True)
    serve.serve_in_thread(server)
    yield serve.server_url(server, "")
    server.shutdown()
    server.server_close()


def test_liveness_over_http(health_server: str) -> None:
    response = requests.get(f"{health_server}/api/health/live", timeout=5)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["status"] == "healthy"


def test_unknown_path_and_wrong_method_over_http(health_server: str) -> None:
    missing = requests.get(f"{health_server}/nope", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not found"}
    wrong = requests.post(f"{health_server}/api/health/live", data=b"", timeout=5)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, HEAD"
    head = requests.head(f"{health_server}/api/health/live", timeout=5)
    assert head.status_code == 200
    assert head.content == b""


def test_cli_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "serve: http://127.0.0.1:PORT/api/health (Ctrl-C stops)"
        url = line.split()[1].replace("/api/health", "/api/health/live")
        assert requests.get(url, timeout=5).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def failing_handler(event: dict[str, Any], context: Any) -> Mapping[str, Any]:
    raise RuntimeError("cannot reach postgresql://app:hunter2-secret@db.internal/app")


def test_a_failing_handler_gets_a_500_and_a_scrubbed_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    server = serve.make_server("127.0.0.1", 0, handler=failing_handler, quiet=True)
    serve.serve_in_thread(server)
    try:
        response = requests.get(serve.server_url(server), timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 500
    assert response.json() == {"error": "Something went wrong"}
    logged = capsys.readouterr().err
    assert "handler failed: RuntimeError" in logged
    assert "hunter2-secret" not in logged
