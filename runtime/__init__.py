"""Ballast's runtime for Lambda functions on Neon Postgres: the public API.

``from runtime import lambda_handler`` and friends. Names are exported lazily (PEP 562): importing
``runtime`` loads none of pydantic, sentry_sdk or psycopg; each name imports its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.db import DatabaseUnavailable, close_pool, get_pool
    from runtime.decorator import lambda_handler
    from runtime.errors import error_response, new_error_id
    from runtime.features import is_enabled
    from runtime.observability import flush, init_sentry
    from runtime.scrub import scrub_text, scrub_value
    from runtime.settings import Settings, SettingsError, get_settings, load_settings, reset_settings

# public name -> module that defines it
_EXPORTS = {
    "lambda_handler": "runtime.decorator",
    "Settings": "runtime.settings",
    "SettingsError": "runtime.settings",
    "get_settings": "runtime.settings",
    "load_settings": "runtime.settings",
    "reset_settings": "runtime.settings",
    "is_enabled": "runtime.features",
    "DatabaseUnavailable": "runtime.db",
    "get_pool": "runtime.db",
    "close_pool": "runtime.db",
    "error_response": "runtime.errors",
    "new_error_id": "runtime.errors",
    "init_sentry": "runtime.observability",
    "flush": "runtime.observability",
    "scrub_text": "runtime.scrub",
    "scrub_value": "runtime.scrub",
}

__all__ = [
    "DatabaseUnavailable",
    "Settings",
    "SettingsError",
    "close_pool",
    "error_response",
    "flush",
    "get_pool",
    "get_settings",
    "init_sentry",
    "is_enabled",
    "lambda_handler",
    "load_settings",
    "new_error_id",
    "reset_settings",
    "scrub_text",
    "scrub_value",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
