"""``--policy-pack-config`` files: every malformed or meaningless file is a ``PolicyConfigError`` naming the
problem (the plan exits 2), in bounded time; a fuzz test holds "clear error or settings" over generated
files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.policy.config import MAX_POLICY_CONFIG_BYTES, load_policy_config
from infra.policy.evaluate import PolicyConfigError, PolicySettings, reconcile_config
from infra.policy.pack import PACK_ENFORCEMENT_LEVEL, build_policies, initial_config
from tests.fixtures.plan_cli import run_plan
from tests.hypothesis_profiles import examples

POLICIES = build_policies()
NAMES = [policy.name for policy in POLICIES]

pytestmark = pytest.mark.timeout(120)


def _reconcile(given_config: Any) -> dict[str, PolicySettings]:
    return reconcile_config(POLICIES, PACK_ENFORCEMENT_LEVEL, initial=initial_config(), given=given_config)


def _file_problems(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "policy-config.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyConfigError) as raised:
        _reconcile(load_policy_config(path))
    return raised.value.problems


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000, "is nested deeper than 32 levels"),
        ('{"all": "mandatory", "all": "advisory"}', "duplicate key 'all'"),
        ("{", "is not valid JSON at line 1"),
        ("[1]", "must be a JSON object keyed by policy name"),
        (
            '{"no-localhost-in-prod": "mandatory"}',
            "no such policy in the pack (did you mean no-localhost-in-production?)",
        ),
        (
            '{"all": {"enforcementLevel": "mandatory", "productionStacks": ["x"]}}',
            "only an enforcement level",
        ),
        (
            '{"preview-branch-expires": {"previewStackPattern": "(["}}',
            "previewStackPattern: is not a valid regular",
        ),
        ('{"all": "strict"}', "enforcement level must be one of"),
        ('{"no-localhost-in-production": 5}', "must be an enforcement level or an object"),
        ('{"no-localhost-in-production": {"productionStacks": "production"}}', "productionStacks"),
    ],
)
def test_malformed_policy_config_is_a_clear_error(tmp_path: Path, text: str, reason: str) -> None:
    problems = _file_problems(tmp_path, text)
    assert any(reason in problem for problem in problems), problems


def test_unreadable_and_oversized_files_are_clear_errors(tmp_path: Path) -> None:
    assert "cannot be read (UnicodeDecodeError)" in _file_problems(tmp_path, b"\xff\xfe{")[0]
    assert "is larger than 1024 KiB" in _file_problems(tmp_path, " " * (MAX_POLICY_CONFIG_BYTES + 1))[0]
    with pytest.raises(PolicyConfigError, match="cannot be read"):
        load_policy_config(tmp_path / "absent.json")


def test_a_valid_file_still_configures_the_pack(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(
        json.dumps({"all": "mandatory", "preview-branch-expires": {"previewStackPattern": "^pr-"}})
    )
    settings = _reconcile(load_policy_config(path))
    assert settings["preview-branch-expires"].properties["previewStackPattern"] == "^pr-"
    assert {s.enforcement_level.value for s in settings.values()} == {"mandatory"}


@pytest.mark.parametrize("text", ["[" * 100_000, '{"no-such-rule": "mandatory"}', '{"a": 1, "a": 2}'])
def test_the_plan_exits_2_without_a_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy-config.json"
    path.write_text(text)
    result = run_plan("--stack", "production", "--policy-pack-config", str(path), timeout=90)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# --- fuzz ----------------------------------------------------------------------------------------------

LEVELS = st.sampled_from(["advisory", "mandatory", "remediate", "disabled", "strict", "", "MANDATORY"])
PROPERTY_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.lists(st.text(max_size=8), max_size=3)
)
POLICY_VALUES = st.one_of(
    LEVELS,
    st.integers(),
    st.none(),
    st.lists(LEVELS, max_size=2),
    st.dictionaries(
        st.sampled_from(
            ["enforcementLevel", "productionStacks", "previewStackPattern", "allowedRuntimes", "x"]
        ),
        st.one_of(LEVELS, PROPERTY_VALUES, st.sampled_from(["(", "[a-", "^pr-[0-9]+$", "*"])),
        max_size=3,
    ),
)
CONFIGS = st.dictionaries(
    st.one_of(st.sampled_from([*NAMES, "all"]), st.text(max_size=10)), POLICY_VALUES, max_size=4
)


def _outcome(config: Any) -> dict[str, PolicySettings] | list[str]:
    """The settings, or the problems of the clear error; anything else raised fails the test."""
    try:
        return _reconcile(config)
    except PolicyConfigError as error:
        return error.problems


def _file_outcome(path: Path) -> dict[str, PolicySettings] | list[str]:
    try:
        return _outcome(load_policy_config(path))
    except PolicyConfigError as error:
        return error.problems


@examples(300)
@given(CONFIGS)
def test_any_config_object_gives_settings_or_a_clear_error(config: dict[str, Any]) -> None:
    outcome = _outcome(config)
    if isinstance(outcome, list):
        assert outcome
        assert all(isinstance(problem, str) and problem for problem in outcome)
    else:
        assert set(outcome) == set(NAMES)


@examples(200)
@given(st.one_of(st.text(max_size=200), CONFIGS.map(json.dumps)))
def test_any_file_text_gives_settings_or_a_clear_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("policy") / "config.json"
    path.write_text(text, encoding="utf-8")
    outcome = _file_outcome(path)
    assert outcome if isinstance(outcome, list) else set(outcome) == set(NAMES)
