"""The declared functions (``ballast:functions``) served on their routes locally, as the stage's HTTP API
would route them: ``METHOD /path`` → the function's handler, with ``routeKey`` and ``pathParameters`` set.

Matching follows API Gateway's HTTP API: the most specific route wins (literal segments over ``{param}``,
``{param}`` over a greedy ``{param+}``, a method over ``ANY``); no match is a JSON 404 ``Not Found``. Each
function's ``code`` directory goes on ``sys.path`` and its handler is imported as Lambda would import it, so
the same ``handler: module.attribute`` works here and there. One process serves them all, so two
functions may not ship the same module name, nor set the same variable to different values.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from infra.config import StageConfig
    from infra.functionspec import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Mapping[str, Any]]
NOT_FOUND: Final = {
    "statusCode": 404,
    "headers": {"Content-Type": "application/json"},
    "body": json.dumps({"message": "Not Found"}),  # API Gateway's own body for an unrouted request
}
DEFAULT_STACK: Final = "staging"  # whose config the local stage serves (every stack shares Pulumi.yaml's)


class LocalFunctionsError(ValueError):
    """The declared functions cannot be served together in one local process."""


@dataclass(frozen=True)
class LocalRoute:
    method: str
    path: str
    function: str
    pattern: re.Pattern[str]
    rank: tuple[int, ...]  # smaller is more specific

    @staticmethod
    def of(method: str, path: str, function: str) -> LocalRoute:
        segments = [s for s in path.split("/") if s]
        parts: list[str] = []
        literal = params = greedy = 0
        for segment in segments:
            if segment.startswith("{") and segment.endswith("+}"):
                parts.append(f"(?P<{segment[1:-2]}>.+)")
                greedy += 1
            elif segment.startswith("{"):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
                params += 1
            else:
                parts.append(re.escape(segment))
                literal += 1
        pattern = re.compile("^/" + "/".join(parts) + "$")
        rank = (greedy, -literal, params, method == "ANY")
        return LocalRoute(method, path, function, pattern, rank)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


class LocalFunctions:
    """A Lambda-style handler for ``runtime.serve`` that routes each request to the declared function."""

    def __init__(self, routes: Sequence[LocalRoute], handlers: Mapping[str, Handler]) -> None:
        self.routes = sorted(routes, key=lambda route: route.rank)
        self.handlers = dict(handlers)

    def match(self, method: str, path: str) -> tuple[LocalRoute, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def __call__(self, event: dict[str, Any], context: Any) -> Mapping[str, Any]:
        http = event.get("requestContext", {}).get("http", {})
        method = str(http.get("method", "")).upper()
        matched = self.match(method, str(event.get("rawPath", "")))
        if matched is None:
            return dict(NOT_FOUND)
        route, parameters = matched
        routed = copy.deepcopy(event)
        routed["routeKey"] = route.key
        routed["requestContext"]["routeKey"] = route.key
        if parameters:
            routed["pathParameters"] = parameters
        return self.handlers[route.function](routed, context)

    def invoke(self, function: str, event: dict[str, Any], context: Any) -> Mapping[str, Any]:
        """Call one function directly (a scheduled one, say) with ``event``."""
        return self.handlers[function](event, context)


def scheduled_event(rule: str) -> dict[str, Any]:
    """What EventBridge sends a scheduled function (``detail-type`` "Scheduled Event")."""
    return {
        "version": "0",
        "id": "local",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "1970-01-01T00:00:00Z",
        "region": "local",
        "resources": [f"arn:aws:events:local:000000000000:rule/{rule}"],
        "detail": {},
    }


def function_environment(config: StageConfig) -> dict[str, str]:
    """Every function's extra environment, merged (one process serves them all)."""
    merged: dict[str, str] = {}
    owners: dict[str, str] = {}
    for name, spec in config.functions.items():
        for variable, value in config.function_environment(spec).items():
            if variable in merged and merged[variable] != value:
                raise LocalFunctionsError(
                    f"functions {owners[variable]} and {name} set {variable} differently: one local process "
                    "cannot serve both"
                )
            merged[variable], owners[variable] = value, name
    return merged


def load_handlers(config: StageConfig, project_dir: Path) -> dict[str, Handler]:
    """Import every function's handler, its ``code`` directory first on ``sys.path``."""
    modules: dict[str, str] = {}
    handlers: dict[str, Handler] = {}
    for name, spec in config.functions.items():
        top = spec.module.split(".", 1)[0]
        origin = spec.code or "(layer)"
        if modules.get(top, origin) != origin:
            raise LocalFunctionsError(
                f"functions in {modules[top]} and {origin} both ship a module named {top}: rename one"
            )
        modules[top] = origin
        handlers[name] = _import_handler(spec, project_dir)
    return handlers


def _import_handler(spec: FunctionSpec, project_dir: Path) -> Handler:
    if spec.code is not None:
        directory = str((project_dir / spec.code).resolve())
        if directory not in sys.path:
            sys.path.insert(0, directory)
    module_name, _, attribute = spec.handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LocalFunctionsError(
            f"cannot import {module_name} ({error.name} is missing: install the function's requirements.txt "
            "into .venv)"
        ) from None
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise LocalFunctionsError(f"{spec.handler} is not a function")
    return handler  # type: ignore[no-any-return]


def local_functions(config: StageConfig, project_dir: Path) -> LocalFunctions:
    routes = [
        LocalRoute.of(route.method, route.path, name)
        for name, spec in config.functions.items()
        for route in spec.routes
    ]
    return LocalFunctions(routes, load_handlers(config, project_dir))


def read_config(project_dir: Path, stack: str = DEFAULT_STACK) -> StageConfig:
    """The stack's validated config, read from the stack files as ``./ballast plan`` reads them."""
    from infra.config import NAMESPACE, load_stage_config
    from infra.plan.stackfiles import load_stack_files

    files = load_stack_files(project_dir, stack)
    prefix = f"{NAMESPACE}:"
    raw = {key.removeprefix(prefix): value for key, value in files.config.items() if key.startswith(prefix)}
    secret_keys = frozenset(key.removeprefix(prefix) for key in files.secret_keys if key.startswith(prefix))
    return load_stage_config(stack, raw, secret_keys=secret_keys, project_dir=project_dir)


def apply_environment(config: StageConfig) -> None:
    os.environ.update(function_environment(config))
