"""Stage config under generated input: any mapping of settings to the strings (or values) the CLI could hand
over gives a ``StageConfig`` or a ``ConfigError`` naming keys, never another exception; a map or list given
for a single-value setting is refused, values keep the setting's type."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.config import ConfigError, StageConfig, load_stage_config, settable_keys
from tests.hypothesis_profiles import examples

SHARED = {"sentryOrganization": "acme", "sentryTeam": "platform"}
KEYS = sorted(settable_keys())
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
RAW_VALUES = st.one_of(
    st.text(max_size=30),
    JSON_VALUES.map(json.dumps),
    st.sampled_from(["[" * 5000, "{" * 5000, "2026-01-01", "0x10", "yes", "1:30", ".inf", "-1", "1e400"]),
    JSON_VALUES,
)

pytestmark = pytest.mark.timeout(120)


def _outcome(stack: str, raw: dict[str, Any]) -> StageConfig | list[str]:
    try:
        return load_stage_config(stack, raw)
    except ConfigError as error:
        return error.problems


@examples(400)
@given(
    st.sampled_from(["production", "staging", "pr-7", "Bad Name"]),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)), RAW_VALUES, max_size=6),
)
def test_any_raw_config_gives_a_stage_config_or_problems_naming_keys(stack: str, raw: dict[str, Any]) -> None:
    outcome = _outcome(stack, {**SHARED, **raw})
    if isinstance(outcome, list):
        assert outcome
        assert all(problem.startswith(("ballast:", "stack name")) for problem in outcome), outcome
    else:
        assert outcome.stack == stack


@pytest.mark.parametrize("key", ["neonBranchName", "sentryOrganization", "logLevel", "lambdaKmsKeyArn"])
@pytest.mark.parametrize("value", ['{"a":1}', '["x"]', '{"nested":{"deep":[1,2]}}'])
def test_a_map_or_list_for_a_single_value_setting_is_refused(key: str, value: str) -> None:
    problems = _outcome("staging", {**SHARED, key: value})
    assert isinstance(problems, list)
    assert any(p.startswith(f"ballast:{key}: takes a single value, not a map or list") for p in problems)


def test_a_deeply_nested_json_object_is_a_problem_not_a_recursion_error() -> None:
    problems = _outcome("staging", {**SHARED, "environment": "[" * 100_000})
    assert problems == [
        "ballast:environment: is not a YAML object or list (nor JSON) (expected: a map of variable names to "
        'strings, e.g. `pulumi config set --path "ballast:environment.FEATURE_X_ENABLED" true`)'
    ]
