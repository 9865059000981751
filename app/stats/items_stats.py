"""The example app's ``GET /api/stats``: a plain function under ``@lambda_handler`` (no router, no extra
dependency: it imports only the Ballast layer)."""

from __future__ import annotations

from typing import Any

from runtime import lambda_handler
from runtime.db import run_bounded

QUERY_TIMEOUT_SECONDS = 3.0


@lambda_handler
def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    count, newest = run_bounded(
        lambda conn: conn.execute("SELECT count(*), max(created_at) FROM items").fetchone() or (0, None),
        timeout=QUERY_TIMEOUT_SECONDS,
    )
    return {"items": count, "newest": newest.isoformat() if newest else None}
