"""Ballast's policy rules: plain functions over ``pulumi_policy`` validation arguments.

Each rule returns early when the resource (or stack) does not concern it and reports a message that names
the resource and the property path and says what must change — never a property's value: policies receive
secrets as plain text, and a host in a malformed URL can be a password. ``infra.policy.pack`` turns the
``RULES`` below into ``pulumi_policy`` policies; the analyzer (``pulumi preview --policy-pack``) and the
offline plan (``infra.policy.evaluate``) run those same objects.

Stage is stack name: a stack is production when ``pulumi.get_stack()`` is one of the rule's
``productionStacks`` (policy config, default ``["production"]``); previews match ``previewStackPattern``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra import concurrency
from infra.policy.walk import UNKNOWN, has_key, iter_strings, lookup
from runtime.constants import DATABASE_URL, DB_POOL_MAX_SIZE, PREVIEW_STAGE_PATTERN, SENTRY_DSN
from runtime.loopback import find_loopback

# Resource types the rules key on (dynamic types: ``pulumi-python:dynamic/<module>:<name>``).
FUNCTION_TYPE: Final = "aws:lambda/function:Function"
FUNCTION_URL_TYPE: Final = "aws:lambda/functionUrl:FunctionUrl"
HTTP_API_TYPE: Final = "aws:apigatewayv2/api:Api"
LOG_GROUP_TYPE: Final = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM_TYPE: Final = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC_SUBSCRIPTION_TYPE: Final = "aws:sns/topicSubscription:TopicSubscription"
SECRET_VERSION_TYPE: Final = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 - a type name
IAM_ROLE_TYPE: Final = "aws:iam/role:Role"
IAM_POLICY_TYPES: Final = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
IAM_ATTACHMENT_TYPE: Final = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
NEON_PROJECT_TYPE: Final = "pulumi-python:dynamic/neon:Project"
NEON_BRANCH_TYPE: Final = "pulumi-python:dynamic/neon:Branch"
NEON_ROLE_TYPE: Final = "pulumi-python:dynamic/neon:Role"
NEON_DATABASE_TYPE: Final = "pulumi-python:dynamic/neon:Database"
SENTRY_KEY_TYPE: Final = "pulumi-python:dynamic/sentry:ClientKey"
ENGINE_TYPE_PREFIX: Final = "pulumi:"  # pulumi:providers:*, pulumi:pulumi:StackReference, pulumi:pulumi:Stack
# The stateful Neon resources; a Connection only reads connection strings and holds no data.
NEON_DATA_TYPES: Final = (NEON_PROJECT_TYPE, NEON_BRANCH_TYPE, NEON_ROLE_TYPE, NEON_DATABASE_TYPE)

# Policy config keys and their defaults (the defaults are also in each policy's config schema).
PRODUCTION_STACKS: Final = "productionStacks"
DEFAULT_PRODUCTION_STACKS: Final = ("production",)
PREVIEW_STACK_PATTERN: Final = "previewStackPattern"
DEFAULT_PREVIEW_STACK_PATTERN: Final = rf"^{PREVIEW_STAGE_PATTERN}$"
ALLOWED_RUNTIMES: Final = "allowedRuntimes"
DEFAULT_ALLOWED_RUNTIMES: Final = ("python3.11", "python3.12", "python3.13", "python3.14")
POOLER_SHARE: Final = "poolerShare"  # the program's ballast:poolerShare: all functions' part of the pool
MIN_COMPUTE_UNITS: Final = "minComputeUnits"  # used when the stack declares no Neon branch with a known size
DEFAULT_POOL_MAX_SIZE: Final = "defaultPoolMaxSize"
DEFAULT_POOL_MAX_SIZE_VALUE: Final = 20  # runtime.settings' db_pool_max_size default

NEON_POOLER_MARKER: Final = "-pooler."
BROAD_MANAGED_POLICIES: Final = frozenset(
    {
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
    }
)

ResourceCheck = Callable[[ResourceValidationArgs, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]


# Config and stage ----------------------------------------------------------------------------------------


def _config(args: ResourceValidationArgs | StackValidationArgs) -> Mapping[str, Any]:
    config = args.get_config()
    return config if isinstance(config, Mapping) else {}


def production_stacks(args: ResourceValidationArgs | StackValidationArgs) -> frozenset[str]:
    names = _config(args).get(PRODUCTION_STACKS, DEFAULT_PRODUCTION_STACKS)
    if isinstance(names, str):
        return frozenset({names})
    return frozenset(str(n) for n in names) if isinstance(names, Sequence) else frozenset()


def in_production(args: ResourceValidationArgs | StackValidationArgs) -> bool:
    return pulumi.get_stack() in production_stacks(args)


def in_preview_stack(args: ResourceValidationArgs) -> bool:
    pattern = _config(args).get(PREVIEW_STACK_PATTERN, DEFAULT_PREVIEW_STACK_PATTERN)
    return isinstance(pattern, str) and re.search(pattern, pulumi.get_stack()) is not None


def _int_config(args: ResourceValidationArgs, key: str, default: int) -> int:
    value = _config(args).get(key, default)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _subject(args: ResourceValidationArgs) -> str:
    return f"{args.resource_type} '{args.name}'"


def _number(value: Any) -> float | None:
    """A known number (the engine sends every number as a float), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _env_path(name: str) -> str:
    return f"environment.variables.{name}"


# Mandatory -------------------------------------------------------------------------------------------------


def no_localhost_in_production(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not in_production(args):
        return
    for path, text in iter_strings(args.props):
        if find_loopback(text) is not None:
            report_violation(
                f"{_subject(args)}: property {path} points at the local machine. A production stack must "
                "only reach real hosts: set the production address in the stack config "
                "(e.g. `pulumi config set --stack production ...`) instead.",
                None,
            )


# Database, monitoring and the function --------------------------------------------------------------------


def _database_urls(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(path, value) of DATABASE_URL in a function's environment or a stage secret's JSON payload."""
    if args.resource_type == FUNCTION_TYPE:
        variables = lookup(args.props, "environment", "variables")
        if has_key(variables, DATABASE_URL):
            yield _env_path(DATABASE_URL), lookup(variables, DATABASE_URL)
    elif args.resource_type == SECRET_VERSION_TYPE:
        payload = _json_object(lookup(args.props, "secretString"))
        if payload is not None and DATABASE_URL in payload:
            yield f"secretString(json).{DATABASE_URL}", payload[DATABASE_URL]


def production_database_url_uses_pooler(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in (FUNCTION_TYPE, SECRET_VERSION_TYPE) or not in_production(args):
        return
    for path, url in _database_urls(args):
        if url is UNKNOWN:
            continue  # decided by the Neon provider at deploy time; nothing to judge yet
        host = _url_host(url)
        if host is None:
            report_violation(
                f"{_subject(args)}: {path} is not a postgresql:// URL with a host. Pass the Database "
                "component's pooled_url (Neon's connection_uri with pooled=true).",
                None,
            )
        elif NEON_POOLER_MARKER not in host:
            report_violation(
                f"{_subject(args)}: {path} does not use a Neon pooler host "
                "(…-pooler.<region>.aws.neon.tech). Functions must connect through Neon's PgBouncer: pass "
                "the Database component's pooled_url, and keep the direct URL for migrations only.",
                None,
            )


def production_has_sentry_dsn(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FUNCTION_TYPE or not in_production(args):
        return
    variables = lookup(args.props, "environment", "variables")
    if variables is UNKNOWN:
        return
    dsn = lookup(variables, SENTRY_DSN) if has_key(variables, SENTRY_DSN) else None
    if dsn is UNKNOWN or (isinstance(dsn, str) and dsn.strip()):
        return
    report_violation(
        f"{_subject(args)}: {_env_path(SENTRY_DSN)} is missing or empty, so production errors would go "
        "unseen. Pass the Monitoring component's dsn to the function.",
        None,
    )


def function_has_reserved_concurrency(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != FUNCTION_TYPE:
        return
    value = lookup(args.props, "reservedConcurrentExecutions")
    if value is UNKNOWN:
        return
    concurrency = _number(value)
    if concurrency is None or concurrency < 0:
        report_violation(
            f"{_subject(args)}: reservedConcurrentExecutions is not set, so a traffic spike can open more "
            "database connections than Neon's pooler accepts. Set reserved_concurrent_executions "
            "(derived from the pool size and the pooler's limits).",
            None,
        )
    elif concurrency == 0:
        report_violation(
            f"{_subject(args)}: reservedConcurrentExecutions is 0, which throttles every invocation. "
            "Set it to at least 1.",
            None,
        )


def function_concurrency_fits_pooler(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    demands: list[tuple[str, int, int]] = []
    urns: dict[str, str] = {}
    for resource in args.resources:
        if resource.resource_type != FUNCTION_TYPE or not _uses_database(resource.props):
            continue
        reserved = _number(lookup(resource.props, "reservedConcurrentExecutions"))
        pool_size = _pool_max_size(resource.props, _config(args))
        if reserved is None or reserved < 1 or pool_size is None:
            continue  # unset or unknown: function-has-reserved-concurrency reports it
        demands.append((resource.name, int(reserved), pool_size))
        urns[resource.name] = resource.urn
    if not demands:
        return
    min_cu = _smallest_compute(args)
    share = _config(args).get(POOLER_SHARE, concurrency.DEFAULT_POOLER_SHARE)
    share = (
        float(share)
        if isinstance(share, (int, float)) and 0 < share <= 1
        else concurrency.DEFAULT_POOLER_SHARE
    )
    budget = concurrency.connection_budget(min_compute_units=min_cu, pooler_share=share)
    worst = concurrency.worst_case((reserved, pool) for _, reserved, pool in demands)
    if worst > budget:
        names = ", ".join(f"'{name}'" for name, _, _ in demands)
        report_violation(
            f"{FUNCTION_TYPE} {names}: reservedConcurrentExecutions x {DB_POOL_MAX_SIZE} adds up to {worst} "
            f"connections, more than the {budget} the Neon pooler's server pool gives them ({share} of it at "
            f"{min_cu} CU). Lower reserved concurrency or pool sizes (ballast:functions), or raise "
            "ballast:computeMinCu.",
            urns[max(demands, key=lambda demand: demand[1] * demand[2])[0]],  # the largest claim
        )


def _uses_database(props: Mapping[str, Any]) -> bool:
    variables = lookup(props, "environment", "variables")
    return variables is UNKNOWN or has_key(variables, DATABASE_URL)


def _smallest_compute(args: StackValidationArgs) -> float:
    """The smallest compute of the stack's Neon branches (their autoscaling minimum), else the policy
    config's ``minComputeUnits`` (default: Neon's smallest compute, the safe assumption)."""
    sizes = [
        size
        for resource in args.resources
        if resource.resource_type == NEON_BRANCH_TYPE
        for size in [_number(lookup(resource.props, "autoscaling_min_cu"))]
        if size is not None and size >= concurrency.MIN_COMPUTE_UNITS
    ]
    if sizes:
        return min(sizes)
    configured = _number(_config(args).get(MIN_COMPUTE_UNITS))
    return (
        configured
        if configured and configured >= concurrency.MIN_COMPUTE_UNITS
        else concurrency.MIN_COMPUTE_UNITS
    )


def _pool_max_size(props: Mapping[str, Any], config: Mapping[str, Any]) -> int | None:
    variables = lookup(props, "environment", "variables")
    if variables is UNKNOWN:
        return None
    value = lookup(variables, DB_POOL_MAX_SIZE) if has_key(variables, DB_POOL_MAX_SIZE) else None
    if value is UNKNOWN:
        return None
    if value is None:
        configured = config.get(DEFAULT_POOL_MAX_SIZE, DEFAULT_POOL_MAX_SIZE_VALUE)
        return int(configured) if isinstance(configured, int) and not isinstance(configured, bool) else None
    try:
        return int(str(value).strip())
    except ValueError:
        return None  # the runtime's settings validation refuses it at cold start


def lambda_runtime_supported(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FUNCTION_TYPE:
        return
    runtime = lookup(args.props, "runtime")
    if runtime is UNKNOWN or (runtime is None and lookup(args.props, "packageType") == "Image"):
        return
    allowed = _config(args).get(ALLOWED_RUNTIMES, DEFAULT_ALLOWED_RUNTIMES)
    if runtime not in allowed:
        shown = runtime if isinstance(runtime, str) and re.fullmatch(r"[a-z0-9.]{1,20}", runtime) else "unset"
        report_violation(
            f"{_subject(args)}: runtime is {shown}, not one of {', '.join(allowed)}. Build for a supported "
            "Python runtime (AWS stops patching deprecated ones).",
            None,
        )


def _wildcard_origins(props: Mapping[str, Any], *path: str) -> list[int]:
    """The indices of ``'*'`` in the known origins list at ``path`` (none if unknown or not a list)."""
    origins = lookup(props, *path)
    if origins is UNKNOWN or not isinstance(origins, Sequence) or isinstance(origins, str):
        return []
    return [index for index in range(len(origins)) if lookup(origins, index) == "*"]


def function_url_cors_restricted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Checks that no production function URL allows every origin (`*`) in its CORS settings."""
    if args.resource_type != FUNCTION_URL_TYPE or not in_production(args):
        return
    for index in _wildcard_origins(args.props, "cors", "allowOrigins"):
        report_violation(
            f"{_subject(args)}: cors.allowOrigins[{index}] is '*', so any web site can call the "
            "production function from a browser. List the production origins (ballast config) instead.",
            None,
        )


def http_api_cors_restricted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Checks that no production HTTP API allows every origin (`*`) in its CORS configuration."""
    if args.resource_type != HTTP_API_TYPE or not in_production(args):
        return
    for index in _wildcard_origins(args.props, "corsConfiguration", "allowOrigins"):
        report_violation(
            f"{_subject(args)}: corsConfiguration.allowOrigins[{index}] is '*', so any web site can "
            "call the production API from a browser. List the production origins (ballast:corsOrigins).",
            None,
        )


# Logs ----------------------------------------------------------------------------------------------------


def log_group_has_retention(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != LOG_GROUP_TYPE:
        return
    value = lookup(args.props, "retentionInDays")
    if value is UNKNOWN:
        return
    days = _number(value)
    if days is None or days <= 0:
        report_violation(
            f"{_subject(args)}: retentionInDays is not set, so logs are kept (and billed) forever. "
            "Set retention_in_days per stage.",
            None,
        )


def function_has_log_group(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    functions = [r for r in args.resources if r.resource_type == FUNCTION_TYPE]
    for function in functions:
        depends_on_log_group = any(d.resource_type == LOG_GROUP_TYPE for d in function.dependencies)
        if not depends_on_log_group:
            report_violation(
                f"{FUNCTION_TYPE} '{function.name}' does not depend on a declared log group, so Lambda "
                "creates one that never expires. Declare an aws.cloudwatch.LogGroup with retention and "
                "pass it (logging_config.log_group or depends_on) to the function.",
                function.urn,
            )


def production_alarms_have_subscriber(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    types = {r.resource_type for r in args.resources}
    if not in_production(args) or FUNCTION_TYPE not in types:
        return
    if METRIC_ALARM_TYPE not in types:
        report_violation(
            "This production stack declares Lambda functions but no CloudWatch alarm, so nobody hears when "
            "they fail. Set `pulumi config set ballast:alarmsEnabled true` and add a subscriber to "
            "ballast:alarmSubscribers.",
            None,
        )
        return
    if TOPIC_SUBSCRIPTION_TYPE not in types:
        report_violation(
            "This production stack's alarms notify an SNS topic nobody subscribes to. Add an e-mail address "
            'or https:// endpoint: `pulumi config set --path "ballast:alarmSubscribers[0]" <address>` '
            "(with --secret for a webhook URL holding a token).",
            None,
        )


# Neon and Sentry -----------------------------------------------------------------------------------------


def production_neon_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in NEON_DATA_TYPES or not in_production(args):
        return
    if not args.opts.protect:
        report_violation(
            f"{_subject(args)}: is not protected, so `pulumi destroy` or a rename would delete production "
            "data. Declare it with ResourceOptions(protect=True, retain_on_delete=True).",
            None,
        )
    if args.resource_type == NEON_BRANCH_TYPE and lookup(args.props, "protected") is False:
        report_violation(
            f"{_subject(args)}: property protected is false, so the branch can be deleted or reset from "
            "Neon's console and API. Set protected=True on the production branch.",
            None,
        )


def production_resources_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type in NEON_DATA_TYPES or args.resource_type.startswith(ENGINE_TYPE_PREFIX):
        return  # Neon data has its own rule; providers, stack references and the stack are the engine's
    if not in_production(args) or args.opts.protect:
        return
    report_violation(
        f"{_subject(args)}: is not protected, so `pulumi destroy` deletes it before it stops at the "
        "protected resources, leaving production half torn down. Protect it like the rest of the stage "
        "(the stage's ResourceOptions(protect=True) on its component; children inherit it).",
        None,
    )


def preview_branch_expires(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != NEON_BRANCH_TYPE or not in_preview_stack(args):
        return
    expires_at = lookup(args.props, "expires_at")
    if expires_at is UNKNOWN or (isinstance(expires_at, str) and expires_at):
        return
    report_violation(
        f"{_subject(args)}: property expires_at is not set, so a forgotten preview keeps its Neon branch "
        "(and compute) forever. Give preview branches an expiry (preview_expiry(days)).",
        None,
    )


def sentry_key_rate_limited(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != SENTRY_KEY_TYPE:
        return
    for prop in ("rate_limit_count", "rate_limit_window_seconds"):
        value = lookup(args.props, prop)
        if value is UNKNOWN:
            continue
        number = _number(value)
        if number is None or number < 1:
            report_violation(
                f"{_subject(args)}: property {prop} is not a positive number, so an error storm can spend "
                "the whole Sentry quota. Set a per-stage rate limit on the client key.",
                None,
            )


# IAM -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grant:
    path: str
    problem: str


def secrets_access_least_privilege(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == IAM_ATTACHMENT_TYPE:
        arn = lookup(args.props, "policyArn")
        if isinstance(arn, str) and arn in BROAD_MANAGED_POLICIES:
            report_violation(
                f"{_subject(args)}: policyArn attaches a broad AWS managed policy "
                f"({arn.rsplit('/', 1)[-1]}). Grant secretsmanager:GetSecretValue on the stage's one secret "
                "instead.",
                None,
            )
        return
    for grant in _broad_grants(args):
        report_violation(
            f"{_subject(args)}: {grant.path} {grant.problem}. Grant secretsmanager:GetSecretValue on the "
            "stage's one secret ARN only.",
            None,
        )


def _policy_documents(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    if args.resource_type in IAM_POLICY_TYPES:
        yield "policy", lookup(args.props, "policy")
    elif args.resource_type == IAM_ROLE_TYPE:
        inline = lookup(args.props, "inlinePolicies")
        if isinstance(inline, Sequence) and not isinstance(inline, str):
            for index in range(len(inline)):
                yield f"inlinePolicies[{index}].policy", lookup(inline, index, "policy")


def _broad_grants(args: ResourceValidationArgs) -> Iterator[_Grant]:
    for path, document in _policy_documents(args):
        decoded = _json_object(document)
        if decoded is None:
            continue  # unknown during preview, or not a JSON document
        statements = decoded.get("Statement")
        if isinstance(statements, Mapping):
            statements = [statements]
        if not isinstance(statements, list):
            continue
        for index, statement in enumerate(statements):
            if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
                yield from _statement_problems(f"{path}(json).Statement[{index}]", statement)


def _statement_problems(path: str, statement: Mapping[str, Any]) -> Iterator[_Grant]:
    if "NotAction" in statement:
        yield _Grant(path, "allows everything except a list of actions (NotAction)")
        return
    actions = [a.lower() for a in _as_list(statement.get("Action"))]
    if any(a in ("*", "secretsmanager:*") for a in actions):
        yield _Grant(path, "allows every Secrets Manager action (Action '*' or 'secretsmanager:*')")
        return
    touches_secrets = any(a.startswith("secretsmanager:") for a in actions)
    resources = _as_list(statement.get("Resource"))
    if touches_secrets and (
        "NotResource" in statement or any(r in ("*", "arn:aws:secretsmanager:*") for r in resources)
    ):
        yield _Grant(path, "grants Secrets Manager actions on every secret (Resource '*')")


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _json_object(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _url_host(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("postgres", "postgresql") or not host:
        return None
    return host


# The pack's rules ----------------------------------------------------------------------------------------

PRODUCTION_STACKS_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "items": {"type": "string"},
    "default": list(DEFAULT_PRODUCTION_STACKS),
    "description": "Stack names that count as production.",
}


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One policy: kebab-case name, a "Checks that …" description, its default enforcement level and config
    schema (JSON schema per property, defaults included)."""

    name: str
    description: str
    enforcement_level: EnforcementLevel = EnforcementLevel.ADVISORY
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ResourceRule(Rule):
    check: ResourceCheck


@dataclass(frozen=True, kw_only=True)
class StackRule(Rule):
    check: StackCheck


def _production_config(**extra: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {PRODUCTION_STACKS: PRODUCTION_STACKS_SCHEMA, **extra}


RULES: Final[tuple[ResourceRule | StackRule, ...]] = (
    ResourceRule(
        name="no-localhost-in-production",
        description="Checks that no property of any resource in a production stack points at the local "
        "machine (localhost, loopback addresses and their spellings), including environment variables and "
        "JSON documents.",
        check=no_localhost_in_production,
        enforcement_level=EnforcementLevel.MANDATORY,
        config=_production_config(),
    ),
    ResourceRule(
        name="production-database-url-uses-pooler",
        description="Checks that the production function's DATABASE_URL points at Neon's connection pooler "
        "(a -pooler host).",
        check=production_database_url_uses_pooler,
        config=_production_config(),
    ),
    ResourceRule(
        name="production-has-sentry-dsn",
        description="Checks that the production function is given a Sentry DSN.",
        check=production_has_sentry_dsn,
        config=_production_config(),
    ),
    ResourceRule(
        name="function-has-reserved-concurrency",
        description="Checks that every Lambda function has reserved concurrency, so it cannot overrun the "
        "database.",
        check=function_has_reserved_concurrency,
    ),
    StackRule(
        name="function-concurrency-fits-pooler",
        description="Checks that the sum over the stack's database functions of reserved concurrency times "
        "pool size stays within their share of the Neon pooler's server pool at the smallest compute.",
        check=function_concurrency_fits_pooler,
        config={
            POOLER_SHARE: {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 1,
                "default": concurrency.DEFAULT_POOLER_SHARE,
            },
            MIN_COMPUTE_UNITS: {
                "type": "number",
                "minimum": concurrency.MIN_COMPUTE_UNITS,
                "default": concurrency.MIN_COMPUTE_UNITS,
            },
            DEFAULT_POOL_MAX_SIZE: {"type": "integer", "minimum": 1, "default": DEFAULT_POOL_MAX_SIZE_VALUE},
        },
    ),
    ResourceRule(
        name="lambda-runtime-supported",
        description="Checks that every Lambda function runs on a supported Python runtime.",
        check=lambda_runtime_supported,
        config={
            ALLOWED_RUNTIMES: {
                "type": "array",
                "items": {"type": "string"},
                "default": list(DEFAULT_ALLOWED_RUNTIMES),
            }
        },
    ),
    ResourceRule(
        name="function-url-cors-restricted",
        description="Checks that a production function URL does not accept browser calls from any origin.",
        check=function_url_cors_restricted,
        config=_production_config(),
    ),
    ResourceRule(
        name="http-api-cors-restricted",
        description="Checks that a production HTTP API does not accept browser calls from any origin.",
        check=http_api_cors_restricted,
        config=_production_config(),
    ),
    ResourceRule(
        name="log-group-has-retention",
        description="Checks that every CloudWatch log group has a retention period.",
        check=log_group_has_retention,
    ),
    StackRule(
        name="function-has-log-group",
        description="Checks that every Lambda function depends on a declared log group (with retention) "
        "rather than the one Lambda creates, which never expires.",
        check=function_has_log_group,
    ),
    StackRule(
        name="production-alarms-have-subscriber",
        description="Checks that a production stack with Lambda functions has CloudWatch alarms and at least "
        "one subscriber to the topic they notify.",
        check=production_alarms_have_subscriber,
        config=_production_config(),
    ),
    ResourceRule(
        name="production-neon-protected",
        description="Checks that production Neon resources (project, branch, role, database) are protected "
        "from deletion, and the production branch is protected in Neon.",
        check=production_neon_protected,
        config=_production_config(),
    ),
    ResourceRule(
        name="production-resources-protected",
        description="Checks that every other resource of a production stack is protected too, so "
        "`pulumi destroy` fails before deleting any of it instead of half-destroying production.",
        check=production_resources_protected,
        config=_production_config(),
    ),
    ResourceRule(
        name="preview-branch-expires",
        description="Checks that Neon branches of preview stacks (pr-<n>) have an expiry.",
        check=preview_branch_expires,
        config={
            PREVIEW_STACK_PATTERN: {
                "type": "string",
                "format": "regex",
                "default": DEFAULT_PREVIEW_STACK_PATTERN,
                "description": "Regular expression matching preview stack names.",
            }
        },
    ),
    ResourceRule(
        name="sentry-key-rate-limited",
        description="Checks that every Sentry client key has a rate limit.",
        check=sentry_key_rate_limited,
    ),
    ResourceRule(
        name="secrets-access-least-privilege",
        description="Checks that IAM policies grant no wildcard Secrets Manager actions or resources and "
        "attach no broad managed policies.",
        check=secrets_access_least_privilege,
    ),
)
