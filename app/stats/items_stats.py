"""The example app's ``GET /api/stats``: a plain function under ``@lambda_handler`` (no router, no extra
dependency: it imports only the Ballast layer)."""

from __future__ import annotations

from typing import Any

from runtime import lambda_handler
from runtime.db import connection


@lambda_handler
def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with connection() as conn:
        count, newest = conn.execute("SELECT count(*), max(created_at) FROM items").fetchone() or (0, None)
    return {"items": count, "newest": newest.isoformat() if newest else None}
