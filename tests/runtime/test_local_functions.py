"""``localstage.functions``: API Gateway's route matching in front of the declared functions (no database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import load_stage_config
from localstage.functions import (
    LocalFunctions,
    LocalFunctionsError,
    LocalRoute,
    function_environment,
    load_handlers,
)
from runtime.serve import build_event

SHARED = {"sentryOrganization": "acme", "sentryTeam": "platform"}


def echo(name: str) -> Any:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps([name, event["routeKey"], event.get("pathParameters")])}

    return handler


ROUTES = [
    ("GET", "/api/items", "list"),
    ("GET", "/api/items/{id}", "one"),
    ("GET", "/api/items/special", "special"),
    ("ANY", "/api/items/{id}", "any"),
    ("GET", "/files/{path+}", "files"),
]
FUNCTIONS = LocalFunctions(
    [LocalRoute.of(method, path, name) for method, path, name in ROUTES],
    {name: echo(name) for _, _, name in ROUTES},
)


def routed(method: str, path: str) -> Any:
    response = FUNCTIONS(build_event(method, path, [], b"", "127.0.0.1"), None)
    return json.loads(response["body"]) if response["statusCode"] == 200 else response["statusCode"]


def test_the_most_specific_route_wins_like_api_gateway() -> None:
    assert routed("GET", "/api/items") == ["list", "GET /api/items", None]
    assert routed("GET", "/api/items/special") == ["special", "GET /api/items/special", None]
    assert routed("GET", "/api/items/42") == ["one", "GET /api/items/{id}", {"id": "42"}]
    assert routed("DELETE", "/api/items/42") == ["any", "ANY /api/items/{id}", {"id": "42"}]
    assert routed("GET", "/files/a/b/c.txt") == ["files", "GET /files/{path+}", {"path": "a/b/c.txt"}]
    assert routed("GET", ["/query", "x=1"][0]) == 404
    assert routed("POST", "/api/items") == 404  # no such method on that path
    assert routed("GET", "/api/items/42/extra") == 404  # {id} is one segment


def test_two_functions_shipping_one_module_name_cannot_share_a_process(tmp_path: Path) -> None:
    for directory in ("a", "b"):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / "handler.py").write_text("def handle(event, context):\n    return {}\n")
    functions = {
        "one": {"handler": "handler.handle", "code": "a"},
        "two": {"handler": "handler.handle", "code": "b"},
    }
    config = load_stage_config(
        "staging", {**SHARED, "functions": json.dumps(functions)}, project_dir=tmp_path
    )
    with pytest.raises(LocalFunctionsError, match="a and b both ship a module named handler"):
        load_handlers(config, tmp_path)


def test_conflicting_environments_are_refused_and_the_rest_merged(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "fa.py").write_text("def handle(event, context):\n    return {}\n")
    functions = {
        "one": {"handler": "fa.handle", "code": "a", "environment": {"MODE": "x", "ONLY_ONE": "1"}},
        "two": {"handler": "fa.handle", "code": "a", "environment": {"MODE": "x"}},
    }
    config = load_stage_config(
        "staging", {**SHARED, "functions": json.dumps(functions)}, project_dir=tmp_path
    )
    assert function_environment(config) == {"MODE": "x", "ONLY_ONE": "1"}
    functions["two"]["environment"] = {"MODE": "y"}
    config = load_stage_config(
        "staging", {**SHARED, "functions": json.dumps(functions)}, project_dir=tmp_path
    )
    with pytest.raises(LocalFunctionsError, match="one and two set MODE differently"):
        function_environment(config)
