"""The team's functions as stack config: ``ballast:functions``, a map of name → :class:`FunctionSpec`.

```yaml
ballast:functions:
  items:
    handler: items_api.handle        # module.attribute, relative to `code`
    code: app/items                  # the function's own directory (+ its requirements.txt, if any)
    routes:
      - GET /api/items
      - {method: POST, path: /api/items, rateLimit: 5, burstLimit: 10}   # per-route throttling
    dbShare: 3                       # its part of the database budget, relative to the others
  cleanup:
    handler: cleanup.handle
    code: app/cleanup
    schedule: rate(1 day)
    reservedConcurrency: 1
```

Pure data and its rules (no Pulumi): ``infra.config`` validates a stage's functions with these models and
reports every problem as ``ballast:functions.<name>.<field>``; unknown fields get a did-you-mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from runtime import constants

FUNCTION_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
LAMBDA_NAME_MAX: Final = 64
HANDLER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
RUNTIME_HANDLER_PREFIX: Final = "runtime."  # a function without `code` runs a handler of the layer
HEALTH_HANDLER: Final = "runtime.handler.handle"  # the health endpoints (runtime/handler.py)
METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
# API Gateway HTTP API paths: literal segments, {param}, and a greedy {param+} as the last segment.
PATH_SEGMENT: Final = re.compile(r"^(?:[A-Za-z0-9._~\-]+|\{[A-Za-z_][A-Za-z0-9_]*\+?\})$")
SCHEDULE: Final = re.compile(r"^(?:rate\(\s*\d+\s+(?:minute|minutes|hour|hours|day|days)\s*\)|cron\(.+\))$")
MAX_RATE_LIMIT: Final = 10_000.0  # requests/s: the account's default API Gateway quota
MAX_BURST_LIMIT: Final = 5_000


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class RouteSpec(_Model):
    """``METHOD /path`` served by the function; ``rateLimit``/``burstLimit`` throttle just this route."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"]
    path: str
    rate_limit: Annotated[float, Field(gt=0, le=MAX_RATE_LIMIT)] | None = None
    burst_limit: Annotated[int, Field(ge=0, le=MAX_BURST_LIMIT)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):  # "GET /api/items"
            method, _, path = value.strip().partition(" ")
            return {"method": method.upper(), "path": path.strip()}
        if isinstance(value, Mapping) and isinstance(value.get("method"), str):
            return {**value, "method": value["method"].upper()}
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("a route path starts with '/', e.g. GET /api/items")
        segments = path.strip("/").split("/") if path != "/" else []
        for index, segment in enumerate(segments):
            if not PATH_SEGMENT.match(segment):
                raise ValueError("path segments are letters, digits, '-._~', {param} or a last {param+}")
            if segment.endswith("+}") and index != len(segments) - 1:
                raise ValueError("only the last path segment may be greedy ({param+})")
        return "/" + "/".join(segments)

    @property
    def key(self) -> str:
        """API Gateway's route key."""
        return f"{self.method} {self.path}"

    @property
    def throttled(self) -> bool:
        return self.rate_limit is not None or self.burst_limit is not None


class FunctionSpec(_Model):
    """One function. Unset memory, timeout and pool size follow the stage's ``ballast:lambda…`` settings."""

    handler: str
    code: str | None = None  # None: the handler is in the Ballast layer (runtime.*), e.g. the health check
    memory_mb: Annotated[int, Field(ge=128, le=10240)] | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=900)] | None = None
    routes: tuple[RouteSpec, ...] = ()
    schedule: str | None = None
    db_share: Annotated[float, Field(gt=0, le=1000)] = 1.0
    pool_max_size: Annotated[int, Field(ge=1, le=constants.MAX_POOL_SIZE)] | None = None
    reserved_concurrency: Annotated[int, Field(ge=1)] | None = None
    environment: dict[str, str] = Field(default_factory=dict)

    @field_validator("handler")
    @classmethod
    def _handler(cls, handler: str) -> str:
        if not HANDLER.match(handler):
            raise ValueError("is module.function (e.g. items_api.handle), relative to the function's code")
        return handler

    @field_validator("code")
    @classmethod
    def _code(cls, code: str | None) -> str | None:
        if code is None:
            return None
        path = PurePosixPath(code)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError("is a directory inside the project, e.g. app/items (no '..', not absolute)")
        return path.as_posix()

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, schedule: str | None) -> str | None:
        if schedule is not None and not SCHEDULE.match(schedule.strip()):
            raise ValueError(
                "is an EventBridge expression: rate(5 minutes), rate(1 day) or cron(0 3 * * ? *)"
            )
        return schedule.strip() if schedule else None

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_text(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: env_text(v) for k, v in value.items()}
        return value

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    def handler_file_problem(self, project_dir: Path) -> str | None:
        """Why the handler's module cannot be found in the function's code (None when it can)."""
        if self.code is None:
            if not self.handler.startswith(RUNTIME_HANDLER_PREFIX):
                return "without `code` the handler must be in the Ballast layer (runtime.…); set code"
            return None
        root = project_dir / self.code
        if not root.is_dir():
            return "`code` is not a directory of the project"
        module = Path(*self.module.split("."))
        if not ((root / module).with_suffix(".py").is_file() or (root / module / "__init__.py").is_file()):
            return f"the handler's module is not in {self.code}/"
        return None


def env_text(value: Any) -> Any:
    """Config objects may hold booleans and numbers; a function's environment holds strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def field_names(model: type[BaseModel]) -> list[str]:
    return sorted(to_camel(name) for name in model.model_fields)
