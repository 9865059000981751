"""``ballast:functions``: each function validated like every setting (all problems at once, the key named,
did-you-mean), and the database budget split between several functions by their shares — the same
arithmetic the policy rule ``function-concurrency-fits-pooler`` checks."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from infra import concurrency
from infra.config import HEALTH_FUNCTION, ConfigError, StageConfig, load_stage_config
from infra.policy import rules
from tests.policy.support import of, resource, run

SHARED = {"sentryOrganization": "acme", "sentryTeam": "platform"}
HEALTH = {"handler": "runtime.handler.handle", "routes": ["GET /api/health"]}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with two function directories."""
    for directory, module in (("fns/orders", "orders.py"), ("fns/report", "report/__init__.py")):
        path = tmp_path / directory / module
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("def handle(event, context):\n    return {}\n")
    return tmp_path


def load(project: Path, functions: dict[str, Any], stack: str = "staging", **values: Any) -> StageConfig:
    return load_stage_config(
        stack, {**SHARED, "functions": json.dumps(functions), **values}, project_dir=project
    )


def problems_of(project: Path, functions: dict[str, Any], stack: str = "staging", **values: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(project, functions, stack, **values)
    return caught.value.problems


def test_without_a_declaration_the_stage_serves_the_health_check_alone() -> None:
    config = load_stage_config("staging", SHARED)
    assert list(config.functions) == [HEALTH_FUNCTION]
    assert [r.key for r in config.functions[HEALTH_FUNCTION].routes] == [
        "GET /api/health",
        "GET /api/health/live",
        "GET /api/health/ready",
    ]


def test_functions_are_read_from_the_json_the_cli_passes(project: Path) -> None:
    config = load(
        project,
        {
            "orders": {
                "handler": "orders.handle",
                "code": "fns/orders",
                "memoryMb": 256,
                "routes": ["get /orders/{id}", {"method": "POST", "path": "/orders/", "rateLimit": 5}],
                "environment": {"ORDERS_LIMIT": 10, "ORDERS_ON": True},
            },
            "report": {"handler": "report.handle", "code": "fns/report", "schedule": "cron(0 3 * * ? *)"},
        },
    )
    orders = config.functions["orders"]
    assert set(config.functions) == {HEALTH_FUNCTION, "orders", "report"}  # health is always there
    assert [route.key for route in orders.routes] == ["GET /orders/{id}", "POST /orders"]
    assert orders.routes[1].rate_limit == 5
    assert orders.routes[1].throttled
    assert config.function_environment(orders) == {"ORDERS_LIMIT": "10", "ORDERS_ON": "true"}
    assert config.functions["report"].schedule == "cron(0 3 * * ? *)"


def test_every_problem_of_every_function_is_listed_at_once_naming_its_key(project: Path) -> None:
    problems = problems_of(
        project,
        {
            "orders": {
                "handler": "orders.handle",
                "code": "fns/orders",
                "memmoryMb": 256,
                "routes": ["GET orders", {"method": "GET", "path": "/x", "rateLimt": 3}],
            },
            "Bad_Name": {"handler": "x"},
        },
    )
    text = "\n".join(problems)
    assert "ballast:functions.orders.memmoryMb: is not a field of a function (did you mean memoryMb?)" in text
    assert (
        "ballast:functions.orders.routes.1.rateLimt: is not a field of a route (did you mean rateLimit?)"
        in text
    )
    assert "ballast:functions.orders.routes.0.path: a route path starts with '/'" in text
    assert "ballast:functions.Bad_Name.handler: is module.function" in text
    assert len(problems) == 4


def test_cross_checks_name_the_function(project: Path) -> None:
    problems = problems_of(
        project,
        {
            "health": HEALTH,
            "orders": {"handler": "orders.handle", "code": "fns/missing", "routes": ["GET /api/health"]},
            "report": {"handler": "nothere.handle", "code": "fns/report"},
            "layer": {"handler": "app.handle"},
            "env": {"handler": "orders.handle", "code": "fns/orders", "environment": {"DATABASE_URL": "x"}},
        },
    )
    assert sorted(problems) == sorted(
        [
            "ballast:functions.orders.code: `code` is not a directory of the project",
            "ballast:functions.report.code: the handler's module is not in fns/report/",
            "ballast:functions.layer.handler: without `code` the handler must be in the Ballast layer "
            "(runtime.…); set code",
            "ballast:functions.env.environment: DATABASE_URL is set by Ballast itself (change it through its "
            "own ballast:* setting)",
            "ballast:functions: route GET /api/health is declared by health, orders: keep one (expected: a "
            "map of function names to their settings (README: Add your function))",
        ]
    )


def test_the_budget_is_split_by_share_and_the_sum_fits(project: Path) -> None:
    config = load(
        project,
        {
            "health": {**HEALTH, "dbShare": 1},
            "orders": {"handler": "orders.handle", "code": "fns/orders", "dbShare": 3},
            "report": {"handler": "report.handle", "code": "fns/report", "poolMaxSize": 1},
        },
        "production",
    )
    allocations = config.allocations()

    assert config.connection_budget == 94  # floor(0.5 x floor(0.9 x 209)) at production's 0.5 CU
    assert {n: a.connections for n, a in allocations.items()} == {"health": 18, "orders": 56, "report": 18}
    assert {n: a.concurrency for n, a in allocations.items()} == {"health": 9, "orders": 28, "report": 18}
    worst = concurrency.worst_case((a.concurrency, a.pool_max_size) for a in allocations.values())
    assert worst == 18 + 56 + 18 <= config.connection_budget


def test_a_budget_that_cannot_fit_is_a_config_error_naming_the_functions(project: Path) -> None:
    functions = {
        "health": HEALTH,
        "orders": {"handler": "orders.handle", "code": "fns/orders", "dbShare": 40},
        "report": {"handler": "report.handle", "code": "fns/report", "poolMaxSize": 2},
        "tiny": {"handler": "orders.handle", "code": "fns/orders", "dbShare": 0.5},
    }
    [problem] = problems_of(project, functions)  # staging: floor(0.5 x 93) = 46 connections
    assert problem.startswith("ballast:functions: the stage's database budget is 46 connections (0.5 of")
    assert "health, report, tiny get less than one instance's pool" in problem
    assert "orders" not in problem.split(";")[1]
    assert load(project, functions, computeMinCu=2, computeMaxCu=2).allocations()["tiny"].concurrency >= 1


def test_an_explicit_reserved_concurrency_may_only_lower_its_part(project: Path) -> None:
    functions = {
        "health": HEALTH,
        "orders": {"handler": "orders.handle", "code": "fns/orders", "reservedConcurrency": 12},
    }
    [problem] = problems_of(project, functions)
    assert problem.startswith("ballast:functions.orders.reservedConcurrency: exceeds the 11 its part")
    functions["orders"]["reservedConcurrency"] = 11
    assert load(project, functions).allocations()["orders"].concurrency == 11


def _stack_of(config: StageConfig) -> list[Any]:
    """The resources the policy sees for ``config``'s functions: what the program declares."""
    functions = [
        resource(
            rules.FUNCTION_TYPE,
            {
                "runtime": "python3.12",
                "reservedConcurrentExecutions": float(a.concurrency),
                "environment": {
                    "variables": {
                        "DATABASE_URL": "postgresql://u@h/db",
                        "DB_POOL_MAX_SIZE": str(a.pool_max_size),
                    }
                },
            },
            name=name,
        )
        for name, a in config.allocations().items()
    ]
    branch = resource(rules.NEON_BRANCH_TYPE, {"autoscaling_min_cu": config.compute_min_cu}, name="branch")
    return [*functions, branch]


def test_the_config_and_the_policy_agree_for_many_splits(project: Path) -> None:
    """Whatever the split, what the config derives passes the rule, and one instance more fails it
    wherever the budget is (nearly) used up."""
    checked = failed_on_more = 0
    shares = (0.5, 1, 3)
    pools = (1, 2, 5)
    for min_cu, share_a, share_b, pool_a, pool_b in itertools.product(
        (0.25, 0.5, 1), shares, shares, pools, pools
    ):
        functions = {
            "health": {**HEALTH, "poolMaxSize": 1},
            "orders": {
                "handler": "orders.handle",
                "code": "fns/orders",
                "dbShare": share_a,
                "poolMaxSize": pool_a,
            },
            "report": {
                "handler": "report.handle",
                "code": "fns/report",
                "dbShare": share_b,
                "poolMaxSize": pool_b,
            },
        }
        config = load(project, functions, computeMinCu=min_cu, computeMaxCu=min_cu)
        stack = _stack_of(config)
        assert of(run(stack, stack="staging"), "function-concurrency-fits-pooler") == [], (min_cu, functions)
        slack = config.connection_budget - concurrency.worst_case(
            (a.concurrency, a.pool_max_size) for a in config.allocations().values()
        )
        bigger = resource(
            rules.FUNCTION_TYPE,
            {
                "runtime": "python3.12",
                "reservedConcurrentExecutions": float(slack + 1),
                "environment": {
                    "variables": {"DATABASE_URL": "postgresql://u@h/db", "DB_POOL_MAX_SIZE": "1"}
                },
            },
            name="extra",
        )
        assert len(of(run([*stack, bigger], stack="staging"), "function-concurrency-fits-pooler")) == 1
        failed_on_more += 1
        checked += 1
    assert checked == failed_on_more == 3 * 3 * 3 * 3 * 3
