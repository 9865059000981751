"""Reading a ``--policy-pack-config`` file (JSON keyed by policy name, or ``all``) defensively.

Bounded in size and nesting, duplicate keys refused (JSON would silently keep the last one); what the file
*means* — levels, properties, unknown policy names, schema checks — is ``evaluate.reconcile_config``'s job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from infra.policy.evaluate import PolicyConfigError

MAX_POLICY_CONFIG_BYTES: Final = 1024 * 1024
MAX_POLICY_CONFIG_DEPTH: Final = 32


def load_policy_config(path: Path) -> dict[str, Any]:
    """The file's object; raises :class:`PolicyConfigError` naming the file and the problem."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_POLICY_CONFIG_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyConfigError([f"{path}: cannot be read ({type(error).__name__})"]) from None
    if len(data) > MAX_POLICY_CONFIG_BYTES:
        raise PolicyConfigError([f"{path}: is larger than {MAX_POLICY_CONFIG_BYTES // 1024} KiB"])
    if _nesting(text) > MAX_POLICY_CONFIG_DEPTH:
        raise PolicyConfigError([f"{path}: is nested deeper than {MAX_POLICY_CONFIG_DEPTH} levels"])
    try:
        loaded = json.loads(text or "{}", object_pairs_hook=_unique_keys)
    except _DuplicateKey as duplicate:
        raise PolicyConfigError([f"{path}: duplicate key {duplicate.key!r}"]) from None
    except (ValueError, RecursionError) as error:
        where = f" at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise PolicyConfigError([f"{path}: is not valid JSON{where}"]) from None
    if not isinstance(loaded, dict):
        raise PolicyConfigError([f"{path}: must be a JSON object keyed by policy name (or `all`)"])
    return loaded


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside strings (cheap, so 100,000 ``[`` never reach the parser)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
