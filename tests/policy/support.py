"""Running single resources through the policy pack exactly as the analyzer would (shared by tests/policy)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from infra.policy.evaluate import AnalyzedResource, Evaluation, Violation, evaluate, reconcile_config
from infra.policy.pack import PACK_ENFORCEMENT_LEVEL, build_policies, initial_config

POLICIES = build_policies()
PLANTED_SECRET = "planted-Secret-7Hq2xVw"  # a password inside planted URLs: must never reach a message


def resource(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "subject",
    protect: bool = False,
    dependencies: tuple[str, ...] = (),
) -> AnalyzedResource:
    return AnalyzedResource(
        type=resource_type,
        name=name,
        urn=f"urn:pulumi:test::ballast::{resource_type}::{name}",
        inputs=props,
        outputs=props,  # what a preview's AnalyzeStack sees for a resource it is about to create
        protect=protect,
        dependencies=dependencies,
    )


def run(
    resources: Iterable[AnalyzedResource],
    *,
    stack: str = "production",
    config: Mapping[str, Any] | None = None,
) -> Evaluation:
    settings = reconcile_config(POLICIES, PACK_ENFORCEMENT_LEVEL, initial=initial_config(), given=config)
    return evaluate(POLICIES, settings, resources, stack=stack)


def check(
    resource_type: str, props: Mapping[str, Any], *, stack: str = "production", **options: Any
) -> Evaluation:
    config = options.pop("config", None)
    return run([resource(resource_type, props, **options)], stack=stack, config=config)


def of(evaluation: Evaluation, policy: str) -> list[Violation]:
    return [v for v in evaluation.violations if v.policy == policy]


def secret(value: Any) -> dict[str, Any]:
    """The mock engine's shape for a secret (the analyzer would receive the plain value)."""
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def planted_url(host: str) -> str:
    return f"postgresql://app:{PLANTED_SECRET}@{host}:5432/app"
