"""The example app's scheduled function (``schedule: rate(1 day)``): deletes items older than
``ITEMS_RETENTION_DAYS`` (its own environment, default 30). EventBridge invokes it with a scheduled event;
``@lambda_handler`` gives it the same settings, Sentry and error handling as the HTTP functions."""

from __future__ import annotations

import logging
import os
from typing import Any

from runtime import lambda_handler
from runtime.db import connection

RETENTION_VARIABLE = "ITEMS_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30

logger = logging.getLogger(__name__)


def retention_days() -> int:
    text = os.environ.get(RETENTION_VARIABLE, str(DEFAULT_RETENTION_DAYS))
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{RETENTION_VARIABLE} is a whole number of days, at least 1")
    return int(text)


@lambda_handler
def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    days = retention_days()
    with connection() as conn:
        deleted = conn.execute(
            "DELETE FROM items WHERE created_at < now() - make_interval(days => %s)", (days,)
        ).rowcount
    logger.info("deleted %d items older than %d days", deleted, days)
    return {"deleted": deleted, "retentionDays": days}
