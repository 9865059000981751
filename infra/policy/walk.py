"""Reading a resource's property bag the way a policy receives it, without tripping over what is not known.

Under the real engine the analyzer hands policies ``pulumi_policy``'s unknown-checking proxies: reading a
value that is unknown during preview raises ``UnknownValueError``. Under Pulumi's mocks (the offline plan)
unknowns are ``pulumi.output.Unknown`` objects or the engine's sentinel strings, and secrets arrive as
``{sig: secret, value: ...}`` wrappers on the enclosing property (secretness "bubbles up"). The helpers here
treat all of these alike: unknown values are skipped (they cannot be judged yet), secret wrappers are opened
(the analyzer receives secrets as plain text too), and JSON-encoded strings — IAM policy documents, secret
payloads — are walked like nested properties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from pulumi.output import Unknown
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

__all__ = ["UNKNOWN", "has_key", "is_unknown", "iter_strings", "lookup", "unwrap_secret"]

UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)
MAX_DEPTH: Final = 32  # property bags are shallow; this only stops a pathological document
JSON_MARKER: Final = "(json)"


class _Unknown:
    """What :func:`lookup` returns for a value that is not known yet (preview)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


def is_unknown(value: Any) -> bool:
    return (
        value is UNKNOWN
        or isinstance(value, Unknown)
        or (isinstance(value, str) and value in UNKNOWN_SENTINELS)
    )


def unwrap_secret(value: Any) -> Any:
    """The plain value inside a mock-engine secret wrapper (any depth of wrapping); others unchanged."""
    while isinstance(value, Mapping) and _is_secret_wrapper(value):
        value = value.get("value")
    return value


def _is_secret_wrapper(value: Mapping[str, Any]) -> bool:
    try:
        return value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG
    except UnknownValueError:
        return False


def _get(container: Any, key: Any) -> Any:
    """``container[key]``; UNKNOWN when it is not known yet, None when absent."""
    try:
        value = container[key]
    except UnknownValueError:
        return UNKNOWN
    except (KeyError, IndexError, TypeError):
        return None
    value = unwrap_secret(value)
    return UNKNOWN if is_unknown(value) else value


def lookup(props: Any, *keys: str | int) -> Any:
    """The value at ``props[k1][k2]…``: None when any step is absent, UNKNOWN when any step is unknown."""
    value = unwrap_secret(props)
    for key in keys:
        if is_unknown(value):
            return UNKNOWN
        if value is None or isinstance(value, str):
            return None
        value = _get(value, key)
    return UNKNOWN if is_unknown(value) else value


def has_key(mapping: Any, key: str) -> bool:
    """Whether ``key`` is present, even with an unknown value (``in`` on the analyzer's proxy would raise)."""
    mapping = unwrap_secret(mapping)
    return isinstance(mapping, Mapping) and any(k == key for k in mapping)


def iter_strings(props: Any, path: str = "", *, decode_json: bool = True) -> Iterator[tuple[str, str]]:
    """Every known string value in ``props`` with its property path, e.g.
    ``environment.variables.DATABASE_URL`` or ``policy(json).Statement[0].Resource``.

    Keys starting with ``__`` (``__provider``: a dynamic provider's pickled code, not configuration) are
    skipped, as are unknowns, assets and numbers."""
    yield from _walk(props, path, 0, decode_json)


def _walk(value: Any, path: str, depth: int, decode_json: bool) -> Iterator[tuple[str, str]]:
    value = unwrap_secret(value)
    if depth > MAX_DEPTH or is_unknown(value):
        return
    if isinstance(value, str):
        decoded = _json_container(value) if decode_json else None
        if decoded is None:
            yield path, value
        else:
            yield from _walk(decoded, f"{path}{JSON_MARKER}", depth + 1, decode_json)
    elif isinstance(value, Mapping):
        for key in list(value):
            if isinstance(key, str) and key.startswith("__"):
                continue
            child = f"{path}.{key}" if path else str(key)
            yield from _walk(_get(value, key), child, depth + 1, decode_json)
    elif isinstance(value, Sequence):
        for index in range(len(value)):
            yield from _walk(_get(value, index), f"{path}[{index}]", depth + 1, decode_json)


def _json_container(text: str) -> Mapping[str, Any] | list[Any] | None:
    """The decoded object or array when ``text`` is a JSON document of one, else None."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        decoded = json.loads(stripped)
    except ValueError:
        return None
    return decoded if isinstance(decoded, (dict, list)) else None
