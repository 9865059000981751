"""A local HTTP server that turns requests into function-URL events (payload format 2.0) for the handler.

    python -m runtime.serve [--host 127.0.0.1] [--port 8000] [--allow-remote]

It binds loopback only, unless ``--allow-remote`` says otherwise: it is a development tool, not a server.
Malformed requests get a 4xx answer and a one-line log, never a traceback: a ``Content-Length`` that is not a
number (400), a chunked body (411: send a length), a body larger than Lambda accepts (413), a body that does
not arrive within ``BODY_TIMEOUT_SECONDS`` (408); an idle connection is closed after
``IDLE_TIMEOUT_SECONDS``, so no client holds a thread forever.

Ctrl-C, SIGTERM and SIGHUP stop it cleanly (exit 0) even when it inherited them ignored, as a background job
of a script does (``python -m runtime.serve &`` and a later ``kill -INT`` or a test's ``send_signal``).
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOCAL_FUNCTION_NAME = "ballast-local"
LOCAL_TIMEOUT_SECONDS = 30.0  # what get_remaining_time_in_millis counts down from, like a Lambda timeout
MAX_BODY_BYTES = 6 * 1024 * 1024  # the Lambda synchronous payload limit
FAILED_BODY = b'{"error":"Something went wrong"}'
IDLE_TIMEOUT_SECONDS = 30.0  # each read on a connection (request line, headers) waits at most this long
BODY_TIMEOUT_SECONDS = 30.0  # the whole body must arrive within this
LISTEN_BACKLOG = 128  # socketserver's default of 5 refuses connections under a modest burst
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")

LambdaHandler = Callable[[dict[str, Any], Any], Mapping[str, Any]]


class Stopped(BaseException):
    """A stop signal arrived (a BaseException, like KeyboardInterrupt, so that work in progress unwinds)."""


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    ignore_stop_signals()  # a second Ctrl-C must not cut the clean-up short
    raise Stopped(signal.Signals(signum).name)


def ignore_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block (main thread only) a stop signal raises ``Stopped``; the previous handlers come back
    after it. Installed explicitly because a process inherits ignored signals: a script's background job
    (``cmd &``) starts with SIGINT ignored, Python then never raises KeyboardInterrupt, and the server would
    outlive every Ctrl-C and ``kill -INT``."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        for sig in STOP_SIGNALS:
            signal.signal(sig, _on_stop_signal)
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)


class RemoteBindRefused(ValueError):
    """The host is not a loopback address and binding it was not explicitly allowed."""


@dataclass
class LocalContext:
    """The attributes of a Lambda context object that handlers use."""

    function_name: str = LOCAL_FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = f"arn:aws:lambda:local:000000000000:function:{LOCAL_FUNCTION_NAME}"
    log_group_name: str = f"/aws/lambda/{LOCAL_FUNCTION_NAME}"
    log_stream_name: str = "local"
    deadline: float = field(default_factory=lambda: time.monotonic() + LOCAL_TIMEOUT_SECONDS)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def build_event(
    method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """A function-URL (v2) event for one HTTP request."""
    parsed = urllib.parse.urlsplit(target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    request_id = str(uuid.uuid4())
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": urllib.parse.unquote(parsed.path) or "/",
        "rawQueryString": parsed.query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": merged.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": urllib.parse.unquote(parsed.path) or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {key: ",".join(values) for key, values in query.items()}
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def response_parts(response: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes of a handler's v2 response (a bare dict/str body becomes JSON)."""
    if "statusCode" not in response:
        return 200, [("Content-Type", "application/json")], json.dumps(response).encode()
    status = int(response["statusCode"])
    headers = [(str(name), str(value)) for name, value in (response.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(cookie)) for cookie in response.get("cookies") or []]
    body = response.get("body") or ""
    if not isinstance(body, str):
        body = json.dumps(body)
    data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    return status, headers, data


def check_bind_host(host: str, *, allow_remote: bool) -> None:
    """Refuse a bind that would be reachable from other machines, unless explicitly allowed.

    Decided on the addresses the host resolves to, not on its spelling: ``0.0.0.0`` counts as "this machine"
    for a configured URL (``runtime.loopback``), but bound it listens on every interface.
    """
    if allow_remote:
        return
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except socket.gaierror as error:
        raise RemoteBindRefused(f"cannot resolve {host!r}: {error.strerror}") from None
    exposed = sorted(address for address in addresses if not _is_loopback_address(address))
    if exposed or not addresses:
        raise RemoteBindRefused(
            f"refusing to listen on {host!r}: not loopback-only ({', '.join(exposed)}); "
            "pass --allow-remote to expose it"
        )


def _is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def make_server(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    handler: LambdaHandler | None = None,
    allow_remote: bool = False,
    quiet: bool = False,
) -> ThreadingHTTPServer:
    """A bound (not yet serving) server; ``port=0`` picks a free port (see ``server.server_address``)."""
    check_bind_host(host, allow_remote=allow_remote)
    if handler is None:
        from runtime.handler import handle

        handler = handle
    request_handler = _request_handler_class(handler, quiet=quiet)
    server_class = _IPv6Server if ":" in host else _Server
    server = server_class((host, port), request_handler)
    server.daemon_threads = True
    return server


def server_url(server: ThreadingHTTPServer, path: str = "/api/health") -> str:
    host, port = str(server.server_address[0]), int(server.server_address[1])
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is not worth a traceback: one line says what happened.
        error = sys.exc_info()[1]
        print(f"serve: connection from {client_address[0]} failed: {type(error).__name__}", file=sys.stderr)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = json.dumps({"error": message}).encode()


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="ballast-serve", daemon=True)
    thread.start()
    return thread


def _request_handler_class(handler: LambdaHandler, *, quiet: bool) -> type[BaseHTTPRequestHandler]:
    class FunctionUrlRequestHandler(BaseHTTPRequestHandler):
        server_version = "ballast-serve"
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT_SECONDS  # StreamRequestHandler sets it on the connection

        def _dispatch(self) -> None:
            try:
                body = self._read_body()
                try:
                    event = build_event(
                        self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                    )
                except ValueError:  # e.g. a target like //[x that urlsplit refuses
                    raise _BadRequest(400, "Invalid request target") from None
            except _BadRequest as error:
                self.close_connection = True  # what follows on the connection cannot be trusted
                self.log_error("refused %s %s: %s", self.command, error.status, error)
                self._send(error.status, [("Content-Type", "application/json")], error.body)
                return
            try:
                status, headers, data = response_parts(handler(event, LocalContext()))
            except Exception as error:  # e.g. SettingsError before the first request: answer, don't hang up
                from runtime.scrub import scrub_text

                self.log_error("handler failed: %s: %s", type(error).__name__, scrub_text(str(error)))
                status, headers, data = 500, [("Content-Type", "application/json")], FAILED_BODY
            self._send(status, headers, b"" if self.command == "HEAD" else data)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding"):
                raise _BadRequest(411, "Chunked bodies are not supported: send Content-Length")
            lengths = self.headers.get_all("Content-Length") or []
            if not lengths:
                return b""
            if len(set(lengths)) != 1 or not _CONTENT_LENGTH.fullmatch(lengths[0].strip()):
                raise _BadRequest(400, "Invalid Content-Length")
            length = int(lengths[0])
            if length > MAX_BODY_BYTES:
                raise _BadRequest(413, "Payload too large")
            return self._read_exactly(length)

        def _read_exactly(self, length: int) -> bytes:
            deadline = time.monotonic() + BODY_TIMEOUT_SECONDS
            chunks: list[bytes] = []
            remaining = length
            try:
                while remaining > 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    self.connection.settimeout(min(left, IDLE_TIMEOUT_SECONDS))
                    chunk = self.rfile.read1(min(remaining, 64 * 1024))
                    if not chunk:
                        raise _BadRequest(400, "The body is shorter than Content-Length")
                    chunks.append(chunk)
                    remaining -= len(chunk)
            except TimeoutError:
                raise _BadRequest(408, "The body did not arrive in time") from None
            finally:
                self.connection.settimeout(IDLE_TIMEOUT_SECONDS)
            return b"".join(chunks)

        def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

        def log_error(self, format: str, *args: Any) -> None:
            super().log_message(format, *args)  # errors are shown even when quiet

    return FunctionUrlRequestHandler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0: free)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)
    try:
        with stop_signals():
            return _serve(args)
    except Stopped:
        return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        server = make_server(args.host, args.port, allow_remote=args.allow_remote, quiet=args.quiet)
    except RemoteBindRefused as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"serve: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"serve: {server_url(server)} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
