"""The pack's assembly (what ``__main__`` hands to ``PolicyPack``), its config reconciliation, and the
``PulumiPolicy.yaml`` the CLI reads. ``PolicyPack`` itself starts a gRPC server and never returns: it is
replaced by a recorder here."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from infra.policy import pack, rules
from infra.policy.evaluate import PolicyConfigError, reconcile_config
from tests.policy.support import POLICIES, check, of, planted_url

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO_ROOT / "infra" / "policy"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")


def test_every_policy_is_named_described_and_levelled() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == len(rules.RULES) >= 12
    for policy in POLICIES:
        assert KEBAB.match(policy.name), policy.name
        assert policy.description.startswith("Checks that "), policy.name
        expected = "mandatory" if policy.name == "no-localhost-in-production" else "advisory"
        assert policy.enforcement_level is EnforcementLevel(expected), policy.name
    kinds = {p.name: type(p) for p in POLICIES}
    assert kinds["function-has-log-group"] is StackValidationPolicy
    assert kinds["no-localhost-in-production"] is ResourceValidationPolicy


def test_initial_config_names_the_production_stacks_for_every_production_rule() -> None:
    config = pack.initial_config()
    production_rules = {r.name for r in rules.RULES if rules.PRODUCTION_STACKS in r.config}
    assert set(config) == production_rules
    assert {"no-localhost-in-production", "production-neon-protected"} <= production_rules
    levels = {r.name: r.enforcement_level for r in rules.RULES}
    for name, value in config.items():  # each with its own level: the engine would default it to advisory
        assert value == {"enforcementLevel": levels[name], "productionStacks": ["production"]}


def test_schema_defaults_reach_the_rules_and_validate() -> None:
    settings = reconcile_config(POLICIES, pack.PACK_ENFORCEMENT_LEVEL)
    assert settings["no-localhost-in-production"].properties == {"productionStacks": ["production"]}
    assert settings["function-concurrency-fits-pooler"].properties["poolerShare"] == 0.5
    assert settings["log-group-has-retention"].enforcement_level is EnforcementLevel.ADVISORY


def test_config_file_overrides_like_the_engine_all_first_then_each_policy() -> None:
    given = {"all": "mandatory", "log-group-has-retention": {"enforcementLevel": "disabled"}}
    settings = reconcile_config(
        POLICIES, pack.PACK_ENFORCEMENT_LEVEL, initial=pack.initial_config(), given=given
    )
    assert settings["sentry-key-rate-limited"].enforcement_level is EnforcementLevel.MANDATORY
    assert settings["log-group-has-retention"].enforcement_level is EnforcementLevel.DISABLED

    no_retention = {"retentionInDays": 0.0}
    evaluation = check(rules.LOG_GROUP_TYPE, no_retention, config=given)
    assert of(evaluation, "log-group-has-retention") == []
    [violation] = of(
        check(rules.LOG_GROUP_TYPE, no_retention, config={"all": "mandatory"}), "log-group-has-retention"
    )
    assert violation.mandatory


def test_production_stack_names_come_from_policy_config() -> None:
    props = {"environment": {"variables": {"DATABASE_URL": planted_url("localhost")}}}
    config = {"no-localhost-in-production": {"productionStacks": ["prod-eu", "prod-us"]}}
    assert of(check(rules.FUNCTION_TYPE, props, stack="prod-eu", config=config), "no-localhost-in-production")
    assert not of(
        check(rules.FUNCTION_TYPE, props, stack="production", config=config), "no-localhost-in-production"
    )
    assert of(check(rules.FUNCTION_TYPE, props, stack="production"), "no-localhost-in-production")


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"all": "strict"}, "all: enforcement level must be one of"),
        ({"no-localhost-in-production": {"productionStacks": "production"}}, "no-localhost-in-production:"),
        ({"function-concurrency-fits-pooler": {"poolerShare": 0}}, "poolerShare"),
        ({"log-group-has-retention": 3}, "must be an enforcement level or an object"),
    ],
)
def test_invalid_policy_config_is_refused_naming_the_policy(given: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        reconcile_config(POLICIES, pack.PACK_ENFORCEMENT_LEVEL, given=given)
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_main_only_assembles_the_pack_with_the_repo_root_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT])

    runpy.run_path(str(POLICY_DIR), run_name="__main__")  # how Pulumi's python analyzer host runs a pack

    [call] = calls
    assert call["name"] == pack.PACK_NAME
    assert call["enforcement_level"] is EnforcementLevel.ADVISORY
    assert [p.name for p in call["policies"]] == [r.name for r in rules.RULES]
    assert call["initial_config"] == pack.initial_config()
    assert str(REPO_ROOT) in sys.path


def test_pulumi_policy_yaml_runs_python_in_the_project_virtualenv() -> None:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    virtualenv = (POLICY_DIR / project["runtime"]["options"]["virtualenv"]).resolve()
    assert virtualenv == REPO_ROOT / ".venv"
    assert set(project) <= {"runtime", "version", "main", "description", "author", "website", "license"}
    assert (POLICY_DIR / "requirements.txt").read_text().count("pulumi-policy==") == 1
