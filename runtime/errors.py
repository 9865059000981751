"""What a caller sees when a request fails: a generic JSON body with an error ID, never anything technical.

The error ID (``ERR-`` + 10 characters of Crockford base32: ~50 bits, no look-alike letters, easy to read out
over the phone) is also the ``error_id`` tag of the Sentry event and part of the log line, so support can go
from a user's screenshot to the stack trace.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

ERROR_ID_PREFIX = "ERR-"
ERROR_ID_LENGTH = 10
ERROR_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
ERROR_ID_PATTERN = rf"^{ERROR_ID_PREFIX}[{ERROR_ID_ALPHABET}]{{{ERROR_ID_LENGTH}}}$"
REQUEST_ID_HEADER = "X-Request-ID"

GENERIC_MESSAGE = "Something went wrong"
PUBLIC_MESSAGES = {
    500: GENERIC_MESSAGE,
    503: "Service temporarily unavailable",
}
ERROR_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}

Response = dict[str, Any]


def new_error_id() -> str:
    """A fresh ``ERR-XXXXXXXXXX`` identifier."""
    return ERROR_ID_PREFIX + "".join(secrets.choice(ERROR_ID_ALPHABET) for _ in range(ERROR_ID_LENGTH))


def error_response(status: int, *, error_id: str, request_id: str) -> Response:
    """A function-URL (payload v2) response for a failed request: ``{"error": ..., "errorId": ...}``.

    Only 5xx statuses are answered here, each with a fixed public message (500 and unknown 5xx: "Something
    went wrong"; 503: "Service temporarily unavailable").
    """
    if not 500 <= status <= 599:
        raise ValueError(f"error_response is for 5xx statuses, got {status}")
    body = {"error": PUBLIC_MESSAGES.get(status, GENERIC_MESSAGE), "errorId": error_id}
    return {
        "statusCode": status,
        "headers": {**ERROR_HEADERS, REQUEST_ID_HEADER: request_id},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
