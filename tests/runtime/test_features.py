from __future__ import annotations

import pytest

from runtime.features import FeatureFlagError, enabled_features, is_enabled, variable_for


def test_names_are_normalised_to_one_variable() -> None:
    assert variable_for("new-checkout") == "FEATURE_NEW_CHECKOUT_ENABLED"
    assert variable_for("New Checkout") == "FEATURE_NEW_CHECKOUT_ENABLED"


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("ON", True), ("1", True), ("no", False), ("0", False)]
)
def test_boolean_spellings(raw: str, expected: bool) -> None:
    assert is_enabled("beta", env={"FEATURE_BETA_ENABLED": raw}) is expected


def test_unset_flag_takes_the_default() -> None:
    assert is_enabled("beta", env={}) is False
    assert is_enabled("beta", default=True, env={}) is True


def test_a_non_boolean_names_the_variable_and_not_the_value() -> None:
    with pytest.raises(FeatureFlagError) as raised:
        is_enabled("beta", env={"FEATURE_BETA_ENABLED": "sometimes-secretish"})
    assert "FEATURE_BETA_ENABLED" in str(raised.value)
    assert "sometimes-secretish" not in str(raised.value)


def test_enabled_features_lists_only_true_flags() -> None:
    env = {"FEATURE_A_ENABLED": "true", "FEATURE_B_ENABLED": "false", "OTHER": "1"}
    assert enabled_features(env) == ["A"]


def test_explicit_env_beats_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURE_BETA_ENABLED", "true")
    assert is_enabled("beta") is True
    assert is_enabled("beta", env={"FEATURE_BETA_ENABLED": "false"}) is False
