"""The example app's items API: a Powertools ``APIGatewayHttpResolver`` router under ``@lambda_handler``.

Routes (declared for API Gateway in ``ballast:functions.items.routes``, matched again here by Powertools):
``GET /api/items``, ``POST /api/items``, ``GET /api/items/{id}``. Queries go through the runtime's one
database entry (``runtime.db.connection``), so a database that is down or saturated surfaces as
``DatabaseUnavailable``: a 503 with an error ID from ``@lambda_handler``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError

from runtime import lambda_handler
from runtime.db import connection

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_NAME_CHARS = 200

api = APIGatewayHttpResolver()


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": row[0], "name": row[1], "createdAt": row[2].isoformat()}


@api.get("/api/items")
def list_items() -> dict[str, Any]:
    text = api.current_event.get_query_string_value("limit", str(DEFAULT_LIMIT)) or ""
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequestError(f"limit is a number from 1 to {MAX_LIMIT}")
    with connection() as conn:
        rows = conn.execute(
            "SELECT id, name, created_at FROM items ORDER BY id DESC LIMIT %s", (int(text),)
        ).fetchall()
    return {"items": [_item(row) for row in rows]}


@api.post("/api/items")
def create_item() -> Response[dict[str, Any]]:
    try:
        body = api.current_event.json_body
    except ValueError:
        raise BadRequestError("the body is not JSON") from None
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME_CHARS:
        raise BadRequestError(f"name is a string of 1 to {MAX_NAME_CHARS} characters")
    with connection() as conn:
        row = conn.execute(
            "INSERT INTO items (name) VALUES (%s) RETURNING id, name, created_at", (name.strip(),)
        ).fetchone()
    assert row is not None  # INSERT … RETURNING returns the row
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=_item(row))


@api.get("/api/items/<item_id>")
def get_item(item_id: str) -> dict[str, Any]:
    if not item_id.isdigit():
        raise NotFoundError("no such item")
    with connection() as conn:
        row = conn.execute("SELECT id, name, created_at FROM items WHERE id = %s", (int(item_id),)).fetchone()
    if row is None:
        raise NotFoundError("no such item")
    return _item(row)


@lambda_handler
def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Powertools routes the event; anything it does not handle (a DatabaseUnavailable, a bug) propagates
    to ``@lambda_handler``: 503 or 500 with an error ID, reported to Sentry scrubbed."""
    return api.resolve(event, context)
