"""Reading a function-URL (payload format 2.0) event whatever the caller sent: a missing or malformed part
reads as empty, never a traceback (the decorator, the access line and the health router all read events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_mapping(value: object) -> Mapping[Any, Any]:
    """``value`` when it is a mapping, else an empty one."""
    # A dict first: the Mapping ABC's isinstance costs ~0.5 µs, several times per request.
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def http_method(event: Mapping[Any, Any]) -> object:
    """``requestContext.http.method`` as sent (None when absent; not necessarily a string)."""
    return as_mapping(as_mapping(event.get("requestContext")).get("http")).get("method")
