"""Run the policy pack over recorded resources exactly as Pulumi's analyzer does, without an engine.

Mirrors ``pulumi_policy``'s analyzer servicer (``Analyze``/``AnalyzeStack``) and the engine's config
reconciliation (``ReconcilePolicyPackConfig``):

- config: every policy starts from its schema defaults and its own (or the pack's) enforcement level, then
  the pack's ``initial_config``, then a ``--policy-pack-config``-style mapping (``"all"`` first, then per
  policy) is applied; the result is validated against each policy's schema;
- each resource policy sees ``ResourceValidationArgs`` whose props are wrapped in the analyzer's
  unknown-checking proxy; each stack policy sees ``StackValidationArgs`` with parents and dependencies
  resolved to ``PolicyResource`` objects;
- ``disabled`` policies are skipped, ``remediate`` reports as ``mandatory``; reading an unknown value turns
  into an advisory "can't run during preview" note, ``not_applicable`` into a skip;
- ``pulumi.get_stack()`` answers the stack being evaluated (the analyzer configures the runtime the same way).

Resources come in analyzer shape (:class:`AnalyzedResource`): secrets opened (the analyzer gets them as plain
text), unknowns as the engine's sentinel strings.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from inspect import isawaitable
from typing import Any, Final, TypeVar

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

T = TypeVar("T")
ALL_POLICIES: Final = "all"
ENFORCEMENT_LEVEL_KEY: Final = "enforcementLevel"
LEVELS: Final = {level.value: level for level in EnforcementLevel}


class PolicyConfigError(ValueError):
    """Policy config the engine would refuse; ``problems`` lists every one (each names the policy)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class AnalyzedResource:
    """One resource as the analyzer receives it (inputs for resource policies, outputs for stack policies)."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool | None = None
    aliases: tuple[str, ...] = ()
    additional_secret_outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySettings:
    enforcement_level: EnforcementLevel
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _GivenSettings:
    enforcement_level: EnforcementLevel | None
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement_level: EnforcementLevel
    description: str
    message: str
    urn: str
    resource_type: str = ""
    resource_name: str = ""

    @property
    def mandatory(self) -> bool:
        return self.enforcement_level is EnforcementLevel.MANDATORY


@dataclass
class Evaluation:
    violations: list[Violation] = field(default_factory=list)
    # Policies that could not run on a resource: unknown values during preview, or not applicable.
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (policy, urn, reason)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.mandatory]


# Config ----------------------------------------------------------------------------------------------------


def reconcile_config(
    policies: Sequence[Policy],
    pack_level: EnforcementLevel,
    *,
    initial: Mapping[str, EnforcementLevel | Mapping[str, Any]] | None = None,
    given: Mapping[str, Any] | None = None,
) -> dict[str, PolicySettings]:
    """Each policy's effective enforcement level and config properties, as the engine computes them."""
    result = {
        p.name: PolicySettings(p.enforcement_level or pack_level, _schema_defaults(p)) for p in policies
    }
    problems: list[str] = []
    if given:
        problems += _unknown_names(given, [p.name for p in policies])
    for layer in (initial, given):
        if layer:
            result = _apply(result, _parse_layer(layer, problems))
    if problems:
        raise PolicyConfigError(problems)
    problems = [problem for p in policies for problem in _schema_problems(p, result[p.name].properties)]
    if problems:
        raise PolicyConfigError(problems)
    return result


def _schema_defaults(policy: Policy) -> dict[str, Any]:
    schema = policy.config_schema
    if schema is None:
        return {}
    return {key: prop["default"] for key, prop in schema.properties.items() if "default" in prop}


def _unknown_names(layer: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """A name that is no policy of the pack (a typo, a renamed rule) would silently configure nothing."""
    problems = []
    for name in layer:
        if name == ALL_POLICIES:
            value = layer[name]
            if isinstance(value, Mapping) and set(value) - {ENFORCEMENT_LEVEL_KEY}:
                problems.append(f"{ALL_POLICIES}: only an enforcement level applies to every policy")
        elif name not in names:
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{name}: no such policy in the pack{hint}")
    return problems


def _parse_layer(layer: Mapping[str, Any], problems: list[str]) -> dict[str, _GivenSettings]:
    """``{policy: level | {enforcementLevel?, props…}}`` (the ``--policy-pack-config`` file's shape)."""
    parsed: dict[str, _GivenSettings] = {}
    for name, value in layer.items():
        level: EnforcementLevel | None = None
        properties: dict[str, Any] = {}
        if isinstance(value, EnforcementLevel):
            level = value
        elif isinstance(value, str):
            level = _level(name, value, problems)
        elif isinstance(value, Mapping):
            properties = {k: v for k, v in value.items() if k != ENFORCEMENT_LEVEL_KEY}
            raw_level = value.get(ENFORCEMENT_LEVEL_KEY)
            if raw_level is not None:
                level = _level(name, raw_level, problems)
        else:
            problems.append(f"{name}: must be an enforcement level or an object")
            continue
        if level is not None or properties:
            parsed[name] = _GivenSettings(level, properties)
    return parsed


def _level(name: str, value: Any, problems: list[str]) -> EnforcementLevel | None:
    if isinstance(value, EnforcementLevel):
        return value
    if isinstance(value, str) and value in LEVELS:
        return LEVELS[value]
    problems.append(f"{name}: enforcement level must be one of {', '.join(LEVELS)}")
    return None


def _apply(
    result: dict[str, PolicySettings], layer: Mapping[str, _GivenSettings]
) -> dict[str, PolicySettings]:
    updated = dict(result)
    everything = layer.get(ALL_POLICIES)
    if everything is not None and everything.enforcement_level is not None:
        updated = {k: PolicySettings(everything.enforcement_level, v.properties) for k, v in updated.items()}
    for name, settings in layer.items():
        if name == ALL_POLICIES or name not in updated:
            continue
        current = updated[name]
        updated[name] = PolicySettings(
            settings.enforcement_level or current.enforcement_level,
            {**current.properties, **settings.properties},
        )
    return updated


def _schema_problems(policy: Policy, properties: Mapping[str, Any]) -> list[str]:
    schema = policy.config_schema
    if schema is None:
        return []
    import jsonschema  # type: ignore[import-untyped]  # only the offline plan validates; the engine does live

    document = {"type": "object", "properties": schema.properties}
    if schema.required:
        document["required"] = schema.required
    validator = jsonschema.Draft7Validator(document, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [
        f"{policy.name}: {'.'.join(str(p) for p in error.path) or 'config'}: {_schema_message(error)}"
        for error in validator.iter_errors(dict(properties))
    ]


def _schema_message(error: Any) -> str:
    if error.validator == "format" and error.validator_value == "regex":
        return "is not a valid regular expression"
    return str(error.message)


# Evaluation ------------------------------------------------------------------------------------------------


def in_stack(stack: str, run: Callable[[], T], *, project: str = "ballast") -> T:
    """``run()`` with ``pulumi.get_stack()`` answering ``stack`` — in a copied context, so the caller's
    runtime settings (e.g. a mock monitor) are left as they were."""

    def configured() -> T:
        pulumi.runtime.configure(pulumi.runtime.Settings(project=project, stack=stack, dry_run=True))
        return run()

    return contextvars.copy_context().run(configured)


def evaluate(
    policies: Sequence[Policy],
    settings: Mapping[str, PolicySettings],
    resources: Iterable[AnalyzedResource],
    *,
    stack: str,
    project: str = "ballast",
) -> Evaluation:
    """Every resource policy over every resource, then every stack policy over the whole stack."""
    recorded = list(resources)
    return in_stack(stack, lambda: _evaluate(policies, settings, recorded), project=project)


def _evaluate(
    policies: Sequence[Policy], settings: Mapping[str, PolicySettings], resources: list[AnalyzedResource]
) -> Evaluation:
    evaluation = Evaluation()
    levels = {p.name: _effective_level(settings[p.name].enforcement_level) for p in policies}
    enabled = [p for p in policies if levels[p.name] is not EnforcementLevel.DISABLED]
    resource_policies = [p for p in enabled if isinstance(p, ResourceValidationPolicy) and p.has_validation()]
    stack_policies = [p for p in enabled if isinstance(p, StackValidationPolicy)]
    for resource in resources:
        # One proxy per resource (the analyzer builds one per policy; the rules never write to props).
        props = unknown_checking_proxy(dict(resource.inputs))
        options = _options(resource)
        for resource_policy in resource_policies:
            config = dict(settings[resource_policy.name].properties) or None
            args = ResourceValidationArgs(
                resource.type, props, resource.urn, resource.name, options, None, config
            )
            validate = partial(resource_policy.validate, args)
            _run(resource_policy, levels[resource_policy.name], validate, resource, None, evaluation)
    stack_resources = _policy_resources(resources)
    by_urn = {r.urn: r for r in stack_resources}
    for stack_policy in stack_policies:
        stack_args = StackValidationArgs(
            stack_resources, dict(settings[stack_policy.name].properties) or None
        )
        validate = partial(stack_policy.validate, stack_args)
        _run(stack_policy, levels[stack_policy.name], validate, None, by_urn, evaluation)
    return evaluation


def _effective_level(level: EnforcementLevel) -> EnforcementLevel:
    # A violation that survives remediation is reported as mandatory, as the analyzer does.
    return EnforcementLevel.MANDATORY if level is EnforcementLevel.REMEDIATE else level


def _run(
    policy: Policy,
    level: EnforcementLevel,
    validate: Callable[[ReportViolation], Any],
    resource: AnalyzedResource | None,
    by_urn: Mapping[str, PolicyResource] | None,
    evaluation: Evaluation,
) -> None:
    """One policy on one resource (or the stack): violations and skips land in ``evaluation``."""
    by_urn = by_urn or {}

    def report_violation(message: str, urn: str | None = None) -> None:
        target = resource.urn if resource is not None else (urn or "")
        subject = by_urn.get(target)
        evaluation.violations.append(
            Violation(
                policy=policy.name,
                enforcement_level=level,
                description=policy.description,
                message=message,
                urn=target,
                resource_type=resource.type if resource else (subject.resource_type if subject else ""),
                resource_name=resource.name if resource else (subject.name if subject else ""),
            )
        )

    urn = resource.urn if resource is not None else ""
    try:
        result = validate(report_violation)
        if isawaitable(result):
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(result)
            finally:
                loop.close()
    except UnknownValueError as error:
        evaluation.skipped.append((policy.name, urn, f"can't run during preview: {error.message}"))
    except _NotApplicableError as error:
        evaluation.skipped.append((policy.name, urn, error.reason or "not applicable"))


def _options(resource: AnalyzedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=resource.delete_before_replace,
        aliases=list(resource.aliases),
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(resource.additional_secret_outputs),
        parent=resource.parent,
    )


def _policy_resources(resources: Sequence[AnalyzedResource]) -> list[PolicyResource]:
    """``PolicyResource`` objects with parents and dependencies resolved, as ``AnalyzeStack`` builds them."""
    built = {
        r.urn: PolicyResource(
            r.type,
            unknown_checking_proxy(dict(r.outputs)),
            r.urn,
            r.name,
            _options(r),
            None,
            None,
            [],
            {},
        )
        for r in resources
    }
    for r in resources:
        policy_resource = built[r.urn]
        policy_resource.parent = built.get(r.parent) if r.parent else None
        policy_resource.dependencies.extend(built[d] for d in r.dependencies if d in built)
        for prop, urns in r.property_dependencies.items():
            policy_resource.property_dependencies[prop] = [built[d] for d in urns if d in built]
    return list(built.values())
