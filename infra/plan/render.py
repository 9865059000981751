"""The plan as text (a resource tree per component, the stage's settings, the policy verdict) and as data.

Nothing secret is shown: values recorded as secrets (and secret config) become ``[secret]``, values the
loopback detector flags are withheld (violations name their path instead), and every other string still
passes through the one scrubber (``runtime.scrub``) before it is printed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from infra.plan.record import STACK_TYPE, RecordedResource
from infra.policy.evaluate import Evaluation, Violation
from infra.policy.walk import is_unknown
from runtime.loopback import find_loopback
from runtime.scrub import scrub_text

SECRET: Final = "[secret]"  # noqa: S105 - the mask, not a password
LOCAL_MACHINE: Final = "[withheld: points at the local machine]"
UNKNOWN_TEXT: Final = "(known after deploy)"
MAX_SHOWN_CHARS: Final = 96


@dataclass(frozen=True)
class Plan:
    project: str
    stack: str
    config_source: str
    settings: Mapping[str, Any]  # the stage's settings, secrets already masked
    resources: Sequence[RecordedResource]
    evaluation: Evaluation
    policy_count: int
    exit_code: int
    functions: Mapping[str, Any] = field(default_factory=dict)  # infra.plan.program.function_summary


# Masking -------------------------------------------------------------------------------------------------


def masked(value: Any, path: str, secret_paths: frozenset[str]) -> Any:
    """``value`` with secrets withheld: every value under a secret path (the engine marks a whole map secret
    when one entry is), keeping a secret map's keys — e.g. the function's environment variable names."""
    secret = _is_secret_path(path, secret_paths)
    if secret and not isinstance(value, Mapping):
        return SECRET
    if is_unknown(value):
        return UNKNOWN_TEXT
    if isinstance(value, Mapping):  # under a secret path, the children are masked in turn
        return {
            str(k): masked(v, _join(path, str(k)), secret_paths)
            for k, v in value.items()
            if not str(k).startswith("__")
        }
    if isinstance(value, (list, tuple)):
        return [masked(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    if isinstance(value, str):
        # A value the loopback rule flags is withheld too: the violation names its path, and a "host" in a
        # malformed string can be a password.
        return LOCAL_MACHINE if find_loopback(value) is not None else scrub_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return f"<{type(value).__name__}>"  # assets and archives: the build step's business, not the plan's


def _is_secret_path(path: str, secret_paths: frozenset[str]) -> bool:
    return any(
        path == secret or path.startswith((f"{secret}.", f"{secret}[")) or secret == ""
        for secret in secret_paths
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def masked_inputs(resource: RecordedResource) -> dict[str, Any]:
    shown = masked(dict(resource.analyzed.inputs), "", resource.secret_paths)
    return shown if isinstance(shown, dict) else {}


# Data ----------------------------------------------------------------------------------------------------


def as_data(plan: Plan) -> dict[str, Any]:
    return {
        "project": plan.project,
        "stack": plan.stack,
        "config_source": plan.config_source,
        "settings": dict(plan.settings),
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "urn": r.urn,
                "parent": r.analyzed.parent,
                "custom": r.custom,
                "read": r.read,
                "protect": r.analyzed.protect,
                "retain_on_delete": r.retain_on_delete,
                "dependencies": list(r.analyzed.dependencies),
                "inputs": masked_inputs(r),
            }
            for r in plan.resources
        ],
        "functions": dict(plan.functions),
        "policies": {
            "evaluated": plan.policy_count,
            "violations": [_violation_data(v) for v in plan.evaluation.violations],
            "skipped": [
                {"policy": policy, "urn": urn, "reason": reason}
                for policy, urn, reason in plan.evaluation.skipped
            ],
        },
        "exit_code": plan.exit_code,
    }


def _violation_data(violation: Violation) -> dict[str, Any]:
    return {
        "policy": violation.policy,
        "enforcement_level": violation.enforcement_level.value,
        "resource_type": violation.resource_type,
        "resource_name": violation.resource_name,
        "urn": violation.urn,
        "description": violation.description,
        "message": scrub_text(violation.message),
    }


# Text ----------------------------------------------------------------------------------------------------


def as_text(plan: Plan) -> str:
    return "\n".join(_text_lines(plan)) + "\n"


def _text_lines(plan: Plan) -> Iterator[str]:
    yield f"Ballast plan — stack {plan.stack} (project {plan.project}), config from {plan.config_source}"
    yield ""
    yield "Stage settings (stack file over the stage profile's defaults)"
    width = max((len(key) for key in plan.settings), default=0)
    for key, value in sorted(plan.settings.items()):
        yield f"  {key:<{width}}  {_short(value)}"
    yield ""
    yield from _function_lines(plan.functions)
    custom = sum(1 for r in plan.resources if r.custom)
    components = sum(1 for r in plan.resources if not r.custom and r.type != STACK_TYPE)
    yield f"Resources ({custom} resources, {components} components)"
    yield from _tree_lines(plan.resources)
    yield ""
    yield from _verdict_lines(plan)


def _function_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    if not summary:
        return
    yield (
        f"Functions (database budget {summary['budget']} connections = {summary['poolerShare']} of the "
        f"pooler's server pool at {summary['minCu']} CU, split by dbShare; worst case {summary['worstCase']})"
    )
    for row in summary["functions"]:
        yield f"  {row['name']}: {row['lambda']}  handler {row['handler']}  code {row['code']}"
        for route in row["routes"]:
            yield f"      route       {route}"
        if row["schedule"]:
            yield f"      schedule    {row['schedule']}"
        yield (
            f"      concurrency {row['reservedConcurrency']} reserved x pool {row['poolMaxSize']} = "
            f"{row['connections']} connections (dbShare {row['dbShare']})"
        )
        yield f"      log group   {row['logGroup']}"
        yield f"      role        {row['role']}"
        yield f"      secrets     {', '.join(row['secrets'])} (environment, KMS-encrypted)"
    yield ""


def _tree_lines(resources: Sequence[RecordedResource]) -> Iterator[str]:
    children: dict[str | None, list[RecordedResource]] = defaultdict(list)
    urns = {r.urn for r in resources}
    for r in resources:
        parent = r.analyzed.parent if r.analyzed.parent in urns else None
        children[parent].append(r)

    def walk(parent: str | None, depth: int) -> Iterator[str]:
        for r in children.get(parent, []):
            options = (("read", r.read), ("protect", r.analyzed.protect), ("retain", r.retain_on_delete))
            flags = [flag for flag, on in options if on]
            marker = f"  [{', '.join(flags)}]" if flags else ""
            indent = "  " * (depth + 1)
            yield f"{indent}{r.type} {r.name}{marker}"
            if r.type != STACK_TYPE:
                for path, value in _leaves(masked_inputs(r)):
                    yield f"{indent}    {path} = {_short(value)}"
            yield from walk(r.urn, depth + 1)

    yield from walk(None, 0)


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            yield from _leaves(value[key], _join(path, str(key)))
    elif isinstance(value, list) and value and not all(isinstance(v, (str, int, float)) for v in value):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    elif path:
        yield path, value


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_SHOWN_CHARS else f"{text[: MAX_SHOWN_CHARS - 1]}… ({len(text)} chars)"


def _verdict_lines(plan: Plan) -> Iterator[str]:
    violations = plan.evaluation.violations
    mandatory = [v for v in violations if v.mandatory]
    yield (
        f"Policy pack: {plan.policy_count} policies, {len(mandatory)} mandatory and "
        f"{len(violations) - len(mandatory)} advisory violations"
    )
    for violation in sorted(violations, key=lambda v: (not v.mandatory, v.policy, v.urn)):
        yield f"  [{violation.enforcement_level.value}] {violation.policy}"
        yield f"      {scrub_text(violation.message)}"
    for policy, urn, reason in plan.evaluation.skipped:
        yield f"  [skipped] {policy} on {urn.rsplit('::', 1)[-1] or 'the stack'}: {scrub_text(reason)}"
    verdict = {0: "OK", 1: "FAILED: mandatory policy violations"}.get(plan.exit_code, "FAILED")
    yield f"Result: {verdict}"
