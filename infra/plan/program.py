"""The bridge from the offline plan to the real program: ``infra.stack.program`` under ``RecordingMocks``.

Kept apart from ``offline.py`` so that rendering and policy evaluation stay importable without the program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import pulumi.runtime

from infra.plan.record import RecordedResource
from infra.plan.stackfiles import StackFiles

Runner = Callable[[StackFiles, Callable[[], Any], pulumi.runtime.Mocks], list[RecordedResource]]


class ProgramConfigError(Exception):
    """The program refused the stack's config; ``problems`` names each key (never a value)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} config problem(s)")
        self.problems = problems


def run_stage_program(files: StackFiles, runner: Runner) -> list[RecordedResource]:
    """Declare the stage the way ``pulumi up`` would, with the planned (not built) Lambda layer."""
    from infra import build, stack
    from infra.plan.mocks import RecordingMocks

    def declare() -> None:
        stack.program(build_layer=build.planned_layer, build_code=build.planned_code)

    try:
        return runner(files, declare, RecordingMocks(stack=files.stack))
    except stack.STAGE_ERRORS as error:
        problems = getattr(error, "problems", None) or [str(error)]
        raise ProgramConfigError([str(problem) for problem in problems]) from None


def stage_settings(files: StackFiles) -> tuple[dict[str, Any], frozenset[str]]:
    """Every setting of the stage as ``infra.config`` validates it — the stack file over the profile's
    defaults (what differs by stage) — plus the derived history window, the functions and the database
    budget, and the other namespaces' values; and which of those keys are secret. Raises
    :class:`ProgramConfigError` listing every problem."""
    from infra.config import (
        CREDENTIAL_KEYS,
        FUNCTIONS_KEY,
        NAMESPACE,
        NEON_PROJECT_KEYS,
        ConfigError,
        load_stage_config,
    )

    prefix = f"{NAMESPACE}:"
    raw = {key.removeprefix(prefix): value for key, value in files.config.items() if key.startswith(prefix)}
    secret_keys = frozenset(key.removeprefix(prefix) for key in files.secret_keys if key.startswith(prefix))
    try:
        config = load_stage_config(files.stack, raw, secret_keys=secret_keys)
    except ConfigError as error:
        raise ProgramConfigError(list(error.problems)) from None
    # The history window is the Neon project's: shown for every stage, with where it is set.
    settings: dict[str, Any] = {"profile": config.profile.value, "neonHistoryWindow": config.history_window}
    validated = config.model_dump(by_alias=True, mode="json", exclude_none=True)
    if not config.neon_manage_project:  # the project's settings belong to the stack that manages it
        validated = {key: value for key, value in validated.items() if key not in NEON_PROJECT_KEYS}
    settings |= {f"{prefix}{key}": value for key, value in validated.items()}
    settings[f"{prefix}{FUNCTIONS_KEY}"] = sorted(config.functions)  # each one: the plan's Functions section
    settings["databaseBudget"] = config.connection_budget
    settings |= {f"{prefix}{key}": raw[key] for key in CREDENTIAL_KEYS if key in raw}
    settings |= {key: value for key, value in files.config.items() if not key.startswith(prefix)}
    secret = {f"{prefix}{key}" for key in secret_keys} | {
        k for k in files.secret_keys if not k.startswith(prefix)
    }
    return dict(sorted(settings.items())), frozenset(secret)


SECRET_VARIABLES: Final = ("APP_SECRET", "DATABASE_URL", "SENTRY_DSN")  # infra.stack.function_environment


def function_summary(files: StackFiles) -> dict[str, Any]:
    """What the plan's Functions section shows: the budget and, per function, its route(s), schedule,
    concurrency x pool, log group, role and secret variables — from the same validated config."""
    from infra.config import NAMESPACE, load_stage_config

    prefix = f"{NAMESPACE}:"
    raw = {key.removeprefix(prefix): value for key, value in files.config.items() if key.startswith(prefix)}
    secret_keys = frozenset(key.removeprefix(prefix) for key in files.secret_keys if key.startswith(prefix))
    config = load_stage_config(files.stack, raw, secret_keys=secret_keys)
    allocations = config.allocations()
    rows = []
    for name, spec in config.functions.items():
        allocation = allocations[name]
        lambda_name = config.lambda_name(name)
        secrets = sorted(
            SECRET_VARIABLES
            + (tuple(config.function_environment(spec)) if config.environment_is_secret else ())
        )
        rows.append(
            {
                "name": name,
                "lambda": lambda_name,
                "handler": spec.handler,
                "code": spec.code or "(the Ballast layer)",
                "routes": [
                    route.key
                    + (
                        f" (throttled {route.rate_limit or '-'}/s, burst {route.burst_limit or '-'})"
                        if route.throttled
                        else ""
                    )
                    for route in spec.routes
                ],
                "schedule": spec.schedule,
                "reservedConcurrency": allocation.concurrency,
                "poolMaxSize": allocation.pool_max_size,
                "connections": allocation.concurrency * allocation.pool_max_size,
                "dbShare": spec.db_share,
                "logGroup": f"/aws/lambda/{lambda_name}",
                "role": "its own: writes its log group only",
                "secrets": secrets,
            }
        )
    return {
        "budget": config.connection_budget,
        "poolerShare": config.pooler_share,
        "minCu": config.compute_min_cu,
        "worstCase": sum(row["connections"] for row in rows),
        "functions": rows,
    }
