"""The policy pack's assembly: its name, default enforcement level, ``pulumi_policy`` policy objects and
initial config.

``__main__`` hands these to ``PolicyPack`` (which starts the analyzer's gRPC server and never returns); the
offline plan evaluates the very same objects (``infra.policy.evaluate``).
"""

from __future__ import annotations

from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from infra.policy.evaluate import ENFORCEMENT_LEVEL_KEY
from infra.policy.rules import DEFAULT_PRODUCTION_STACKS, PRODUCTION_STACKS, RULES, ResourceRule, StackRule

PACK_NAME: Final = "ballast"
PACK_ENFORCEMENT_LEVEL: Final = EnforcementLevel.ADVISORY
# The one place a team renames its production stacks for every production rule at once (a
# --policy-pack-config file can still override each rule).
PRODUCTION_STACK_NAMES: Final = DEFAULT_PRODUCTION_STACKS


def build_policy(rule: ResourceRule | StackRule) -> Policy:
    schema = (
        PolicyConfigSchema(properties={key: dict(prop) for key, prop in rule.config.items()})
        if rule.config
        else None
    )
    if isinstance(rule, StackRule):
        return StackValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=rule.check,
            enforcement_level=rule.enforcement_level,
            config_schema=schema,
        )
    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=rule.check,
        enforcement_level=rule.enforcement_level,
        config_schema=schema,
    )


def build_policies() -> list[Policy]:
    return [build_policy(rule) for rule in RULES]


def initial_config() -> dict[str, EnforcementLevel | dict[str, Any]]:
    """``productionStacks`` for every rule that has it, from ``PRODUCTION_STACK_NAMES``, with the rule's own
    level: an entry without one reaches the engine as a ``PolicyConfig`` whose level is the proto default,
    advisory, which overrides the policy's (a mandatory rule would only warn under ``pulumi preview``)."""
    return {
        rule.name: {
            ENFORCEMENT_LEVEL_KEY: rule.enforcement_level,
            PRODUCTION_STACKS: list(PRODUCTION_STACK_NAMES),
        }
        for rule in RULES
        if PRODUCTION_STACKS in rule.config
    }
