"""Property-bag helpers shared by the Neon and Sentry dynamic providers and their resources.

Unknown values. In a preview, an input whose value is not known yet (the id of a resource still to be
created, an output of a resource being updated) reaches the provider host's Check and Diff as a
``pulumi.output.Unknown`` object; on the wire it is the ``UNKNOWN`` sentinel string. :func:`is_unknown`
recognizes both. Validation skips an unknown value (it is judged when known, at create or update),
Check hands it back untouched (never ``None``: that would hide a replacement), and Diff counts it as a
change — a replacement when the property forces one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN  # the wire's placeholder of a value not known yet

from infra.providers.credentials import LEGACY_CREDENTIAL_PROPS

__all__ = [
    "UNKNOWN",
    "changed_keys",
    "diff_keys",
    "is_unknown",
    "keep_unknowns",
    "optional_text",
    "read_inputs",
    "required_failures",
    "stored",
    "with_secret_outputs",
]


def is_unknown(value: Any) -> bool:
    """True for a value not known yet: the host's ``Unknown`` object or the wire's sentinel string."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


def optional_text(props: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string, the ``UNKNOWN`` sentinel for an unknown value, else None."""
    value = props.get(key)
    if is_unknown(value):
        return UNKNOWN
    return value if isinstance(value, str) and value else None


def required_failures(news: Mapping[str, Any], keys: tuple[str, ...]) -> list[dyn.CheckFailure]:
    """A failure per key that is neither a non-empty string nor still unknown."""
    return [
        dyn.CheckFailure(k, f"{k} is required")
        for k in keys
        if not is_unknown(news.get(k)) and not (isinstance(news.get(k), str) and news[k])
    ]


def keep_unknowns(news: Mapping[str, Any], normalized: Mapping[str, Any]) -> dict[str, Any]:
    """Check's inputs: ``news`` overlaid with ``normalized``, except that unknown values stay as they came."""
    return {**news, **{k: v for k, v in normalized.items() if not is_unknown(news.get(k))}}


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    """Keys whose new value differs from the old one, or is unknown yet (so may differ)."""
    return [k for k in keys if is_unknown(news.get(k)) or olds.get(k) != news.get(k)]


def diff_keys(
    olds: Mapping[str, Any], news: Mapping[str, Any], *, replace: tuple[str, ...], update: tuple[str, ...]
) -> dyn.DiffResult:
    """Replacements for ``replace`` keys, an update for ``update`` keys; a credential left in old state
    (from before ``configure()``) is an update too, so the next ``pulumi up`` drops it from the state."""
    replaces = changed_keys(olds, news, replace)
    legacy = any(k in olds for k in LEGACY_CREDENTIAL_PROPS)
    changes = bool(replaces or changed_keys(olds, news, update) or legacy)
    return dyn.DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)


def stored(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties to store as outputs: everything but a credential left by an older version."""
    return {k: v for k, v in props.items() if k not in LEGACY_CREDENTIAL_PROPS}


def read_inputs(live: Mapping[str, Any], input_keys: tuple[str, ...]) -> dict[str, Any]:
    """The inputs a refresh stores: the input properties as read back (so drift shows in the next diff)."""
    return {k: live[k] for k in input_keys if live.get(k) is not None}


def with_secret_outputs(opts: pulumi.ResourceOptions | None, names: list[str]) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=names))
