"""Policy evaluation over 1,000 recorded resources: the whole pack, as the offline plan and analyzer run it.

The resources are shaped like the ones the program records (functions with a dozen environment variables,
IAM and secret JSON documents, log groups, Neon and Sentry resources, nested lists), 1 in 100 carrying a
loopback URL so the reporting path runs too. Side by side: the same resources walked without any rule (the
floor: proxy wrapping plus the property walk), to show what the rules themselves cost.

``python -m bench.bench_policy`` prints the figures; ``run(options)`` is the harness entry point.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.harness import BenchOptions
from bench.report import BenchResult, Goal, Measure
from infra.policy import rules
from infra.policy.evaluate import AnalyzedResource, evaluate, in_stack, reconcile_config
from infra.policy.pack import PACK_ENFORCEMENT_LEVEL, build_policies, initial_config
from infra.policy.walk import iter_strings
from runtime.loopback import find_loopback

RESOURCE_COUNT = 1_000
GOAL_SECONDS = 1.0  # "well under a second" for 1,000 resources
LOOPBACK_EVERY = 100
STACK = "production"


def synthetic_resources(count: int = RESOURCE_COUNT) -> list[AnalyzedResource]:
    makers: Sequence[Callable[[int], tuple[str, dict[str, Any]]]] = (
        _function,
        _role_policy,
        _log_group,
        _secret_version,
        _neon_branch,
        _sentry_key,
        _function_url,
        _generic,
    )
    resources = []
    for index in range(count):
        resource_type, props = makers[index % len(makers)](index)
        name = f"res-{index}"
        resources.append(
            AnalyzedResource(
                type=resource_type,
                name=name,
                urn=f"urn:pulumi:{STACK}::ballast::{resource_type}::{name}",
                inputs=props,
                protect=index % 3 == 0,
            )
        )
    return resources


def _host(index: int) -> str:
    return (
        "localhost" if index % LOOPBACK_EVERY == 0 else f"ep-bench-{index}-pooler.eu-central-1.aws.neon.tech"
    )


def _function(index: int) -> tuple[str, dict[str, Any]]:
    variables = {f"FEATURE_FLAG_{n}_ENABLED": "true" for n in range(6)}
    variables |= {
        "BALLAST_STAGE": STACK,
        "DATABASE_URL": f"postgresql://app:pw-{index}@{_host(index)}/ballast?sslmode=require",
        "SENTRY_DSN": f"https://k{index:032x}@o1.ingest.sentry.io/{index}",
        "CORS_ORIGINS": "https://app.example.com,https://admin.example.com",
        "DB_POOL_MAX_SIZE": "5",
        "LOG_LEVEL": "INFO",
    }
    props = {"runtime": "python3.12", "reservedConcurrentExecutions": 50.0, "memorySize": 512.0}
    return rules.FUNCTION_TYPE, props | {"environment": {"variables": variables}}


def _role_policy(index: int) -> tuple[str, dict[str, Any]]:
    arn = f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:ballast-{index}"
    statements = [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": arn},
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{arn}:*"},
    ]
    return rules.IAM_POLICY_TYPES[0], {
        "policy": json.dumps({"Version": "2012-10-17", "Statement": statements})
    }


def _log_group(index: int) -> tuple[str, dict[str, Any]]:
    return rules.LOG_GROUP_TYPE, {"name": f"/aws/lambda/ballast-{index}", "retentionInDays": 30.0}


def _secret_version(index: int) -> tuple[str, dict[str, Any]]:
    payload = {
        "DATABASE_URL": f"postgresql://app:pw@{_host(index)}/ballast",
        "DATABASE_URL_UNPOOLED": f"postgresql://app:pw@ep-bench-{index}.eu-central-1.aws.neon.tech/ballast",
        "APP_SECRET": "x" * 48,
    }
    return rules.SECRET_VERSION_TYPE, {"secretString": json.dumps(payload)}


def _neon_branch(index: int) -> tuple[str, dict[str, Any]]:
    props = {"project_id": "proj-bench", "branch_name": f"ballast-{index}", "protected": True}
    return rules.NEON_BRANCH_TYPE, props | {"api_base_url": "https://console.neon.tech/api/v2"}


def _sentry_key(index: int) -> tuple[str, dict[str, Any]]:
    props = {"organization": "acme", "project_slug": f"ballast-{index}", "key_name": "ballast"}
    return rules.SENTRY_KEY_TYPE, props | {"rate_limit_count": 600.0, "rate_limit_window_seconds": 60.0}


def _function_url(index: int) -> tuple[str, dict[str, Any]]:
    cors = {"allowOrigins": ["https://app.example.com"], "allowMethods": ["GET", "POST"], "maxAge": 300.0}
    return rules.FUNCTION_URL_TYPE, {"authorizationType": "NONE", "functionName": f"fn-{index}", "cors": cors}


def _generic(index: int) -> tuple[str, dict[str, Any]]:
    tags = {"stage": STACK, "owner": "platform", "index": str(index)}
    nested = [
        {"name": f"rule-{n}", "targets": [{"arn": f"arn:aws:sqs:eu-central-1:1:q-{n}"}]} for n in range(3)
    ]
    return "aws:cloudwatch/eventRule:EventRule", {"tags": tags, "rules": nested}


def _timed(work: Callable[[], object], repetitions: int) -> list[float]:
    durations = []
    for _ in range(repetitions):
        started = time.perf_counter()
        work()
        durations.append(time.perf_counter() - started)
    return durations


def run(options: BenchOptions) -> BenchResult:
    repetitions = options.scaled(7, 2)
    resources = synthetic_resources()
    policies = build_policies()
    settings = reconcile_config(policies, PACK_ENFORCEMENT_LEVEL, initial=initial_config())

    evaluation = evaluate(policies, settings, resources, stack=STACK)
    # Every string the shared detector flags must come back as a violation (the plumbing is checked too).
    expected = sum(1 for r in resources for _, text in iter_strings(r.inputs) if find_loopback(text))
    found = len([v for v in evaluation.violations if v.policy == "no-localhost-in-production"])
    if found != expected or found < RESOURCE_COUNT // LOOPBACK_EVERY // 8:
        raise RuntimeError(f"the detector flags {expected} strings, the pack reported {found}")

    full = _timed(lambda: evaluate(policies, settings, resources, stack=STACK), repetitions)
    walk_only = _timed(lambda: in_stack(STACK, lambda: _walk_all(resources)), repetitions)
    strings = sum(1 for r in resources for _ in iter_strings(r.inputs))

    result = BenchResult("policy")
    result.notes.append(
        f"{len(resources)} resources ({strings} strings), {len(policies)} policies, stack {STACK}, "
        f"median of {repetitions}; {len(evaluation.violations)} violations per run, {found} of them loopback"
    )
    result.measures.append(
        Measure(
            f"policy pack over {len(resources)} resources",
            statistics.median(full),
            "s",
            baseline=statistics.median(walk_only),
            baseline_label="property walk alone",
            goal=Goal(GOAL_SECONDS),
        )
    )
    result.measures.append(Measure("per resource", statistics.median(full) / len(resources) * 1e6, "µs"))
    return result


def _walk_all(resources: Sequence[AnalyzedResource]) -> int:
    from pulumi_policy.proxy import unknown_checking_proxy

    return sum(1 for r in resources for _ in iter_strings(unknown_checking_proxy(dict(r.inputs))))


def main(argv: Sequence[str] | None = None) -> int:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    result = run(BenchOptions(quick=quick))
    for note in result.notes:
        print(note)
    for measure in result.measures:
        print(measure.line())
    return 1 if result.missed_goals else 0


if __name__ == "__main__":
    sys.exit(main())
