"""One JSON line per invocation: what the stage's CloudWatch metric filters and alarms count.

``{"type": "invocation", "requestId": …, "method": "GET", "route": "/api/health", "status": 200,
"durationMs": 1.23}`` plus ``"errorId": "ERR-…"`` on a 5xx answered by Ballast. Written to stdout by the
``runtime.access`` logger (its own handler, not propagated, always at INFO whatever ``LOG_LEVEL`` says: the
alarms must not go blind when someone quietens the logs). The line is JSON with the function's log format
``JSON`` and with ``Text`` alike, so the metric filters in ``infra/alarms.py`` (``{ $.status >= 500 }``,
``{ $.status = 503 }``) match it either way.

Never a secret: only these fields, every string through ``runtime.scrub.scrub_text``; no headers, query
string or body. Field names are constants shared with the metric filters.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from runtime import errors, scrub

ACCESS_LOGGER: Final = "runtime.access"
LINE_TYPE: Final = "invocation"
# Field names: infra/alarms.py builds its metric filter patterns from these.
TYPE_FIELD: Final = "type"
REQUEST_ID_FIELD: Final = "requestId"
METHOD_FIELD: Final = "method"
ROUTE_FIELD: Final = "route"
STATUS_FIELD: Final = "status"
DURATION_FIELD: Final = "durationMs"
ERROR_ID_FIELD: Final = "errorId"
# Ballast answers 503 only when the database is unavailable (pool, PgBouncer or Postgres; health "unhealthy").
DATABASE_UNAVAILABLE_STATUS: Final = 503
MAX_ROUTE_CHARS: Final = 200
_ERROR_ID = re.compile(errors.ERROR_ID_PATTERN)

_setup_lock = threading.Lock()
_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps with options builds one per call
_SOURCE = __file__


def clock() -> float:
    """The start mark of an invocation (monotonic seconds)."""
    return time.perf_counter()


def access_logger() -> logging.Logger:
    """The ``runtime.access`` logger, given its stdout handler on first use."""
    logger = _access_logger
    if _handler is not None and _handler in logger.handlers:  # the warm path: one list lookup
        return logger
    with _setup_lock:
        if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
            handler = _StdoutHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # the root handler would wrap the line in its text format
        _remember_handler(next(h for h in logger.handlers if isinstance(h, _StdoutHandler)))
    return logger


def _remember_handler(handler: logging.Handler) -> None:
    global _handler
    _handler = handler


_access_logger = logging.getLogger(ACCESS_LOGGER)
_handler: logging.Handler | None = None  # the stdout handler access_logger() installed


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (the Lambda runtime and test captures replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


def invocation_record(
    event: Any, response: Mapping[str, Any], *, request_id: str, duration_ms: float
) -> dict[str, Any]:
    """The fields of one invocation's line (scrubbed strings, no secret)."""
    event = event if isinstance(event, Mapping) else {}
    context = _mapping(event.get("requestContext"))
    status = response.get("statusCode")
    record: dict[str, Any] = {
        TYPE_FIELD: LINE_TYPE,
        REQUEST_ID_FIELD: scrub.scrub_text(request_id),
        METHOD_FIELD: _text(_mapping(context.get("http")).get("method")),
        ROUTE_FIELD: scrub.scrub_text(_route(event)[:MAX_ROUTE_CHARS]),
        STATUS_FIELD: status if isinstance(status, int) else None,
        DURATION_FIELD: round(duration_ms, 2),
    }
    error_id = _error_id(response) if isinstance(status, int) and status >= 500 else None
    if error_id:
        record[ERROR_ID_FIELD] = error_id
    return record


def log_invocation(event: Any, response: Mapping[str, Any], *, request_id: str, started: float) -> None:
    """Write the invocation's line; never raises (a log line must not turn a good answer into a failure)."""
    try:
        duration_ms = (time.perf_counter() - started) * 1000
        record = invocation_record(event, response, request_id=request_id, duration_ms=duration_ms)
        logger = access_logger()
        if logger.isEnabledFor(logging.INFO):
            # makeRecord + handle is what logger.info does, less the caller lookup (a stack walk, ~2 us per
            # request) that only a format naming the caller's file or line would use: this one does not.
            line = _JSON.encode(record)
            logger.handle(logger.makeRecord(logger.name, logging.INFO, _SOURCE, 0, line, (), None))
    except Exception:  # see the docstring
        return


def _route(event: Mapping[str, Any]) -> str:
    """The HTTP API's route key (``GET /items/{id}``: no values) when there is one, else the raw path."""
    route_key = event.get("routeKey")
    if isinstance(route_key, str) and route_key and route_key != "$default":
        return route_key.split(" ", 1)[-1]
    return _text(event.get("rawPath"))


def _error_id(response: Mapping[str, Any]) -> str | None:
    body = response.get("body")
    if not isinstance(body, str) or len(body) > 1024:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    value = parsed.get(ERROR_ID_FIELD) if isinstance(parsed, dict) else None
    return value if isinstance(value, str) and _ERROR_ID.match(value) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}
