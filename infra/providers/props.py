"""Property-bag helpers shared by the Neon and Sentry dynamic providers and their resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic as dyn
from pulumi.runtime.rpc import UNKNOWN  # the placeholder of a value not known yet (preview)

__all__ = [
    "UNKNOWN",
    "changed_keys",
    "credential_props",
    "diff_keys",
    "optional_text",
    "required_failures",
    "secret_input",
    "with_secret_outputs",
]


def optional_text(props: Mapping[str, Any], key: str) -> str | None:
    value = props.get(key)
    return value if isinstance(value, str) and value else None


def credential_props(props: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The explicit credential input, carried into the outputs (state, encrypted) so delete can use it."""
    value = optional_text(props, key)
    return {key: value} if value else {}


def required_failures(news: Mapping[str, Any], keys: tuple[str, ...]) -> list[dyn.CheckFailure]:
    """A failure per key that is neither a non-empty string nor still unknown."""
    return [
        dyn.CheckFailure(k, f"{k} is required")
        for k in keys
        if news.get(k) != UNKNOWN and not (isinstance(news.get(k), str) and news[k])
    ]


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    """Keys whose new value differs from the old one, or is unknown yet (so may differ)."""
    return [k for k in keys if news.get(k) == UNKNOWN or olds.get(k) != news.get(k)]


def diff_keys(
    olds: Mapping[str, Any], news: Mapping[str, Any], *, replace: tuple[str, ...], update: tuple[str, ...]
) -> dyn.DiffResult:
    replaces = changed_keys(olds, news, replace)
    changes = bool(replaces or changed_keys(olds, news, update))
    return dyn.DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)


def secret_input(key: str, value: pulumi.Input[str] | None) -> dict[str, Any]:
    """``{key: Output.secret(value)}``, or nothing when the credential comes from the environment."""
    return {key: pulumi.Output.secret(value)} if value is not None else {}


def with_secret_outputs(opts: pulumi.ResourceOptions | None, names: list[str]) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=names))
