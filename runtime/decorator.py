"""``@lambda_handler``: makes a function-URL (payload v2) Lambda handler production-grade.

Once per process: validated settings (``runtime.settings.get_settings``), their secrets registered with the
scrubber, logging scrubbed at ``LOG_LEVEL``, Sentry set up. On Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) that
happens when the decorator runs, i.e. while the handler module is imported in the Lambda *init* phase: in
production, bad settings raise ``SettingsError`` there, the init fails (Lambda logs the error, whose message
lists every problem and no value, and retries the init on the next request) and no request is ever served
with a broken configuration. Elsewhere it happens on the first call, so importing a handler module stays free
of side effects (``eager=True`` forces the Lambda behaviour).

Per invocation (the decorator is the one owner of this work; Sentry's Lambda integration is not enabled): a
request ID (the caller's ``X-Request-ID`` when it is sane — 1 to 128 of ``A-Z a-z 0-9 . _ : -`` — else a new
UUID4) in the response header, the log line and the Sentry ``request_id`` tag; the invocation's deadline from
the Lambda context (``get_remaining_time_in_millis()``), which bounds every database call made inside
(``runtime.deadlines``); an isolated Sentry scope carrying the HTTP request and the Lambda context (scrubbed
when sent) and a timeout warning armed while the handler runs; ``runtime.db.DatabaseUnavailable`` → 503 and
any other exception → 500, each with a generic body and a fresh error ID that is also the Sentry event's
``error_id`` tag; Sentry flushed before returning, on every path, waiting (within its bound) only when the
invocation captured an event.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, overload

from runtime import constants, deadlines, errors, logs, observability, scrub
from runtime.db import DatabaseUnavailable
from runtime.events import as_mapping, http_method

Handler = Callable[[Any, Any], Any]
HttpHandler = Callable[[Any, Any], dict[str, Any]]

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
BINARY_BODY = "[binary body]"

logger = logging.getLogger(observability.ERRORS_LOGGER)

_ready = threading.Event()
_ready_lock = threading.Lock()


@overload
def lambda_handler(func: Handler, /) -> HttpHandler: ...
@overload
def lambda_handler(*, eager: bool | None = None) -> Callable[[Handler], HttpHandler]: ...


def lambda_handler(
    func: Handler | None = None, /, *, eager: bool | None = None
) -> HttpHandler | Callable[[Handler], HttpHandler]:
    """Decorate ``handler(event, context)``; usable bare (``@lambda_handler``) or called
    (``@lambda_handler(eager=True)``). ``eager`` defaults to "running on Lambda"."""

    def decorate(handler: Handler) -> HttpHandler:
        if eager if eager is not None else bool(os.environ.get(constants.AWS_LAMBDA_FUNCTION_NAME)):
            prepare_process()

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> dict[str, Any]:
            prepare_process()
            return _invoke(handler, event, context)

        return wrapper

    return decorate(func) if func is not None else decorate


def prepare_process() -> None:
    """Settings, scrubbing, logging and Sentry, once per process (raises ``SettingsError`` in production)."""
    if _ready.is_set():
        return
    with _ready_lock:
        if _ready.is_set():
            return
        from runtime.settings import get_settings

        settings = get_settings()
        scrub.register_secrets_of(settings)
        observability.configure_logging(settings)
        observability.init_sentry(settings)
        deadlines.set_flush_bound(observability.bounded_flush_timeout(settings.sentry_flush_timeout_seconds))
        _ready.set()


def reset_process() -> None:
    """Forget the per-process set-up and close Sentry (tests); settings have their own ``reset_settings``."""
    with _ready_lock:
        _ready.clear()
    observability.reset_sentry()


def _invoke(handler: Handler, event: Any, context: Any) -> dict[str, Any]:
    started = logs.clock()
    scrub.install_log_scrubbing()  # cheap, and covers handlers added since the cold start
    request_id = request_id_of(event)
    ends_at = deadlines.invocation_end_of(context, time.monotonic())
    token = deadlines.set_invocation_end(ends_at)  # bounds every database call made by the handler
    try:
        # (No local holds the partial: its repr, a frame variable in stack traces, would quote the event.)
        with observability.invocation_scope(
            request_id, functools.partial(sentry_details, event, context), ends_at=ends_at
        ) as invocation:
            try:
                response = as_http_response(handler(event, context), request_id)
            except DatabaseUnavailable as error:
                response = _failure(503, error, request_id, kind="database_unavailable")
            except Exception as error:
                response = _failure(500, error, request_id, kind="unhandled")
            finally:
                invocation.handler_done()  # no timeout warning once the handler has returned
                invocation.flush()  # bounded; waits only if this invocation captured an event
    finally:
        deadlines.reset_invocation_end(token)
    logs.log_invocation(event, response, request_id=request_id, started=started)  # the alarms' JSON line
    return response


def _failure(status: int, error: Exception, request_id: str, *, kind: str) -> dict[str, Any]:
    error_id = errors.new_error_id()
    event_id = observability.capture_error(error, error_id=error_id, kind=kind)
    logger.error(
        "%s %s: %s (request %s, Sentry event %s)",
        error_id,
        kind,
        type(error).__name__,
        request_id,
        event_id or "-",
        exc_info=error,
    )
    return errors.error_response(status, error_id=error_id, request_id=request_id)


def request_id_of(event: Any) -> str:
    """The caller's ``X-Request-ID`` (any header case) when it is sane, else the function URL's own request
    ID (``requestContext.requestId``, what Lambda logs too), else a new UUID4. Sane: it matches
    ``REQUEST_ID_PATTERN`` and the scrubber leaves it as it is (a card number or a registered secret sent as a
    request ID is replaced, never echoed or logged), so the ID needs no scrubbing wherever it goes."""
    event = as_mapping(event)
    headers = as_mapping(event.get("headers"))
    value = headers.get("x-request-id")  # function URLs lower-case header names: the usual hit
    if value is None:
        for name, candidate in headers.items():
            if isinstance(name, str) and name.lower() == "x-request-id":
                value = candidate
                break
    if value is not None:
        if (
            isinstance(value, str)
            and REQUEST_ID_PATTERN.fullmatch(value)
            and scrub.scrub_text(value) == value
        ):
            return value
        return str(uuid.uuid4())
    own = as_mapping(event.get("requestContext")).get("requestId")  # set by AWS, not by the caller
    if isinstance(own, str) and REQUEST_ID_PATTERN.fullmatch(own):
        return own
    return str(uuid.uuid4())


def as_http_response(result: Any, request_id: str) -> dict[str, Any]:
    """The handler's result as a v2 response carrying ``X-Request-ID``: a mapping with ``statusCode`` as is
    (any request ID header of its own replaced), anything else the way a function URL reads it (200, JSON: a
    string is the body, other values are JSON-encoded)."""
    if (type(result) is dict or isinstance(result, Mapping)) and "statusCode" in result:
        headers = {
            name: value
            for name, value in as_mapping(result.get("headers")).items()
            if not (isinstance(name, str) and name.lower() == _REQUEST_ID_HEADER_LOWER)
        }
        headers[errors.REQUEST_ID_HEADER] = request_id
        return {**result, "headers": headers}
    body = result if isinstance(result, str) else json.dumps(result)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", errors.REQUEST_ID_HEADER: request_id},
        "body": body,
    }


_REQUEST_ID_HEADER_LOWER = errors.REQUEST_ID_HEADER.lower()


def sentry_details(event: Any, context: Any) -> dict[str, Any]:
    """What an event sent during this invocation carries: the HTTP request and the Lambda context."""
    return {"request": sentry_request(event), "contexts": {"lambda": lambda_context(context)}}


def lambda_context(context: Any) -> dict[str, Any]:
    """The Lambda context's identifiers (what Sentry's integration would report), for finding the logs."""
    details = {name: getattr(context, name, None) for name in _LAMBDA_CONTEXT_FIELDS}
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        details["remaining_time_in_millis"] = remaining()
    return {name: value for name, value in details.items() if value is not None}


_LAMBDA_CONTEXT_FIELDS = (
    "function_name",
    "function_version",
    "aws_request_id",
    "invoked_function_arn",
    "log_group_name",
    "log_stream_name",
)


def sentry_request(event: Any) -> dict[str, Any]:
    """The Sentry ``request`` of a v2 event (built only when an event is sent; ``before_send`` scrubs it)."""
    event = as_mapping(event)
    context = as_mapping(event.get("requestContext"))
    request: dict[str, Any] = {
        "method": http_method(event),
        "url": f"https://{context.get('domainName', '')}{event.get('rawPath', '')}",
        "query_string": event.get("rawQueryString", ""),
        "headers": dict(as_mapping(event.get("headers"))),
    }
    cookies = event.get("cookies")
    if cookies:
        request["cookies"] = "; ".join(str(cookie) for cookie in cookies)
    body = event.get("body")
    if isinstance(body, str) and body:
        request["data"] = _decoded_body(body) if event.get("isBase64Encoded") else body
    return request


def _decoded_body(body: str) -> str:
    # Only the first bytes can survive scrubbing (1 KB), so only those are decoded.
    head = body[: 4 * scrub.MAX_BODY_BYTES]
    try:
        raw = base64.b64decode(head[: len(head) - len(head) % 4])
    except (binascii.Error, ValueError):
        return BINARY_BODY
    for cut in range(4):  # the cut may have split a multi-byte character
        try:
            return raw[: len(raw) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return BINARY_BODY
