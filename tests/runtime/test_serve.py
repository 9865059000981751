"""runtime.serve: HTTP requests become function-URL (v2) events, responses go back as sent; loopback only."""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from runtime import serve
from runtime.handler import route
from tests.hypothesis_profiles import examples


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


# Starts a command with SIGINT and SIGTERM set as given (exec keeps an ignored signal), so the test neither
# depends on nor inherits how the suite was started: a script's background job (`cmd &`) has SIGINT ignored.
WITH_STOP_SIGNALS = (
    "import os, signal, sys; disposition = getattr(signal, sys.argv[1]); "
    "[signal.signal(sig, disposition) for sig in (signal.SIGINT, signal.SIGTERM)]; "
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
)
STOP_TIMEOUT_SECONDS = 10.0  # the server stops within one request's time; this only bounds a hang


@pytest.mark.parametrize("inherited", ["SIG_DFL", "SIG_IGN"])
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=lambda sig: sig.name)
def test_cli_serves_until_a_stop_signal(stop_signal: signal.Signals, inherited: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WITH_STOP_SIGNALS, inherited, "-m", "runtime.serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe, drained by communicate() below: a full pipe cannot stall it
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "serve: http://127.0.0.1:PORT/api/health (Ctrl-C stops)"
        url = line.split()[1].replace("/api/health", "/api/health/live")
        assert requests.get(url, timeout=5).status_code == 200
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, output
    assert "Traceback" not in output


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


# --- malformed HTTP (issue 11) --------------------------------------------------------------------------


@pytest.fixture
def fast_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "BODY_TIMEOUT_SECONDS", 1.0)


@pytest.fixture
def raw_server(fast_timeouts: None, capfd: pytest.CaptureFixture[str]) -> Iterator[tuple[str, int]]:
    server = serve.make_server("127.0.0.1", 0, handler=echo_handler, quiet=True)
    serve.serve_in_thread(server)
    yield str(server.server_address[0]), int(server.server_address[1])
    server.shutdown()
    server.server_close()
    assert "Traceback" not in capfd.readouterr().err


def _exchange(address: tuple[str, int], request: bytes, *, wait: float = 10.0) -> bytes:
    """Send ``request`` and read until the server answers and closes (or ``wait`` passes)."""
    with socket.create_connection(address, timeout=wait) as connection:
        connection.sendall(request)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
        return received


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", b"400"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"411"),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", b"413"),
        (b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort", b"408"),
    ],
)
def test_malformed_requests_get_a_status_and_a_closed_connection(
    raw_server: tuple[str, int], request_bytes: bytes, status: bytes
) -> None:
    started = time.monotonic()
    answer = _exchange(raw_server, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:80]
    assert time.monotonic() - started < 5  # the server closed the connection: no thread held
    assert _exchange(raw_server, b"GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_the_listen_backlog_is_not_five() -> None:
    server = serve.make_server("127.0.0.1", 0, handler=echo_handler, quiet=True)
    try:
        assert server.request_queue_size == serve.LISTEN_BACKLOG >= 128
    finally:
        server.server_close()


@examples(150)
@given(
    st.lists(
        st.sampled_from(
            [
                b"GET",
                b"POST",
                b" ",
                b"/",
                b"?a=1",
                b"HTTP/1.1",
                b"HTTP/9",
                b"\r\n",
                b"\n",
                b"Content-Length:",
                b" 5",
                b" abc",
                b" -3",
                b"Transfer-Encoding: chunked",
                b"Host: x",
                b"\x00",
                b"\xff",
                b"hello",
                b"Expect: 100-continue",
                b"%",
                b"//[x",
                b":",
            ]
        ),
        max_size=25,
    )
)
def test_any_request_bytes_get_an_answer_or_a_close_never_a_traceback(
    fuzz_server: tuple[str, int], pieces: list[bytes]
) -> None:
    _exchange(fuzz_server, b"".join(pieces) + b"\r\n\r\n", wait=5.0)
    assert _exchange(fuzz_server, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[tuple[str, int]]:
    # One server for every generated request (Hypothesis reuses function-scoped fixtures across examples).
    server = serve.make_server("127.0.0.1", 0, handler=echo_handler, quiet=True)
    serve.serve_in_thread(server)
    yield str(server.server_address[0]), int(server.server_address[1])
    server.shutdown()
    server.server_close()
