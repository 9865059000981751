"""The Lambda entry for a function URL (payload format 2.0): the health endpoints.

``GET /api/health/live`` answers from the process alone; ``GET /api/health/ready`` and ``GET /api/health``
run the readiness checks (200 healthy/degraded, 503 unhealthy). Unknown paths get a JSON 404, other methods a
JSON 405. Every answer is JSON with ``Cache-Control: no-store``. ``handle`` is ``route`` wrapped by
``runtime.lambda_handler`` (request ID, Sentry, a generic 500/503 body for anything unexpected).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from runtime import health, lambda_handler
from runtime.events import as_mapping, http_method

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
ALLOWED_METHODS = ("GET", "HEAD")
LIVE_PATH = "/api/health/live"
READY_PATH = "/api/health/ready"
HEALTH_PATH = "/api/health"

Response = dict[str, Any]
_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps with options builds one per call


def live() -> Response:
    report = health.liveness()
    return json_text_response(report.http_status, report.as_json())


def ready() -> Response:
    report = health.readiness(_settings())
    return json_text_response(report.http_status, report.as_json())


def _settings() -> health.HealthSettings:
    """``runtime.settings.get_settings()``, imported on first use (pydantic stays out of the import) and then
    called directly: a ``from … import`` statement on every request costs ~1 µs."""
    global _get_settings
    if _get_settings is None:
        from runtime.settings import get_settings

        _get_settings = get_settings
    return _get_settings()


_get_settings: Callable[[], health.HealthSettings] | None = None


ROUTES: dict[str, Callable[[], Response]] = {LIVE_PATH: live, READY_PATH: ready, HEALTH_PATH: ready}


def route(event: Mapping[str, Any], context: object) -> Response:
    """Dispatch one function-URL event to its endpoint (undecorated: ``handle`` is the Lambda entry)."""
    method, path = _method_and_path(event)
    endpoint = ROUTES.get(path)
    if endpoint is None:
        return json_response(404, {"error": "Not found"})
    if method not in ALLOWED_METHODS:
        return json_response(405, {"error": "Method not allowed"}, {"Allow": ", ".join(ALLOWED_METHODS)})
    response = endpoint()
    if method == "HEAD":
        response["body"] = ""
    return response


def json_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return json_text_response(status, _JSON.encode(body), headers)


def json_text_response(status: int, body: str, headers: Mapping[str, str] | None = None) -> Response:
    """A response whose body is JSON text already."""
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **headers} if headers else JSON_HEADERS.copy(),
        "body": body,
        "isBase64Encoded": False,
    }


def _method_and_path(event: object) -> tuple[str, str]:
    """Method and path of a v2 event; anything malformed reads as empty (then 404), never a traceback."""
    event = as_mapping(event)
    method = http_method(event)
    path = event.get("rawPath")
    method = method.upper() if isinstance(method, str) else ""
    path = (path.rstrip("/") or "/") if isinstance(path, str) else ""
    return method, path


# The Lambda entry: validated settings, Sentry, request ID; DatabaseUnavailable -> 503, anything else -> 500.
handle = lambda_handler(route)
