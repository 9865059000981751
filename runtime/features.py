"""Feature flags: ``FEATURE_<NAME>_ENABLED`` read through one small API."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from runtime import constants

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NAME = re.compile(r"[^A-Z0-9]+")


class FeatureFlagError(ValueError):
    """A flag variable holds something that is not a boolean (the value is never repeated)."""


def variable_for(name: str) -> str:
    """``new-checkout`` → ``FEATURE_NEW_CHECKOUT_ENABLED``."""
    normalised = _NAME.sub("_", name.upper()).strip("_")
    if not normalised:
        raise FeatureFlagError(f"feature name {name!r} has no letters or digits")
    return f"{constants.FEATURE_PREFIX}{normalised}{constants.FEATURE_SUFFIX}"


def is_enabled(name: str, *, default: bool = False, env: Mapping[str, str] | None = None) -> bool:
    """Is the feature on? Unset means ``default``; a non-boolean value is an error naming the variable."""
    variable = variable_for(name)
    raw = (os.environ if env is None else env).get(variable)
    if raw is None or raw.strip() == "":
        return default
    return _parse(variable, raw)


def enabled_features(env: Mapping[str, str] | None = None) -> list[str]:
    """Names (``NEW_CHECKOUT``) of every flag set to a true value."""
    source = os.environ if env is None else env
    names = []
    for variable, raw in source.items():
        if variable.startswith(constants.FEATURE_PREFIX) and variable.endswith(constants.FEATURE_SUFFIX):
            name = variable[len(constants.FEATURE_PREFIX) : -len(constants.FEATURE_SUFFIX)]
            if name and _parse(variable, raw):
                names.append(name)
    return sorted(names)


def _parse(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FeatureFlagError(f"{variable} is not a boolean: set it to true or false (also 1/0, yes/no, on/off)")
