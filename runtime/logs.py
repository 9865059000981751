"""One JSON line per invocation: what the stage's CloudWatch metric filters and alarms count.

``{"type": "invocation", "requestId": …, "method": "GET", "route": "/api/health", "status": 200,
"durationMs": 1.23}`` plus ``"errorId": "ERR-…"`` on a 5xx answered by Ballast. Written straight to stdout,
one ``write`` and a flush per invocation, not through ``logging``: the line is for the metric filters, so no
``LOG_LEVEL`` may hide it and no log handler (Sentry's breadcrumbs, a text format) may see or wrap it; and a
log record, its handlers and formatter cost ~10 us per request, several times the write. The line is JSON
whatever the function's log format (``JSON`` or ``Text``), so the metric filters in ``infra/alarms.py``
(``{ $.status >= 500 }``, ``{ $.status = 503 }``) match it either way.

Never a secret: only these fields, the route through ``runtime.scrub``, the request ID one the scrubber
leaves unchanged (``runtime.decorator.request_id_of``); no headers, query string or body. Field names are
constants shared with the metric filters.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _string  # json.dumps' own string encoder (C)
from typing import Any, Final

from runtime import errors, scrub
from runtime.events import as_mapping, http_method

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


def clock() -> float:
    """The start mark of an invocation (monotonic seconds)."""
    return time.perf_counter()


def invocation_line(event: Any, response: Mapping[str, Any], *, request_id: str, duration_ms: float) -> str:
    """One invocation's line, without its newline: the compact JSON ``json.dumps`` would give for these
    fields (a test holds that), written directly; a dict and the encoder cost ~2 us more per request.
    ``request_id`` is the one ``runtime.decorator.request_id_of`` gave, clean already; the route is
    scrubbed."""
    event = as_mapping(event)
    method = http_method(event)
    status = response.get("statusCode")
    status_text = str(status) if type(status) is int else "null"
    line = (
        f'{{"{TYPE_FIELD}":"{LINE_TYPE}","{REQUEST_ID_FIELD}":{_string(request_id)},'
        f'"{METHOD_FIELD}":{_string(_text(method))},'
        f'"{ROUTE_FIELD}":{_string(scrub.scrub_recurring_text(_route(event)[:MAX_ROUTE_CHARS]))},'
        f'"{STATUS_FIELD}":{status_text},"{DURATION_FIELD}":{round(duration_ms, 2)!r}'
    )
    error_id = _error_id(response) if type(status) is int and status >= 500 else None
    if error_id:
        line += f',"{ERROR_ID_FIELD}":{_string(error_id)}'
    return line + "}"


def log_invocation(event: Any, response: Mapping[str, Any], *, request_id: str, started: float) -> None:
    """Write the invocation's line; never raises (a log line must not turn a good answer into a failure)."""
    try:
        duration_ms = (time.perf_counter() - started) * 1000
        line = invocation_line(event, response, request_id=request_id, duration_ms=duration_ms)
        out = sys.stdout  # looked up per call: the Lambda runtime and test captures replace it
        out.write(line + "\n")  # one write: lines of concurrent requests never interleave
        out.flush()  # a frozen Lambda instance must not hold the line back
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
