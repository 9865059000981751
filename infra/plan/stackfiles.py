"""Reading a stack's configuration from ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` the way the Pulumi CLI
hands it to the program — without the CLI, and without ever decrypting a secret.

- Project-level values (``config:`` in ``Pulumi.yaml``: plain values or ``{default: …}`` schema entries) come
  first; the stack file's ``config:`` overrides them. Keys without a namespace belong to the project.
- Every value reaches the program as a string (``pulumi.Config`` parses objects from JSON), as the CLI does.
- A ``{secure: …}`` value (``pulumi config set --secret``) is replaced by a placeholder and its key listed as
  secret, so ``Config.require_secret`` still returns a secret Output. The ciphertext is never read further.
- A preview stack (``pr-<n>``) without its own file gets the preview profile: project values only, the
  program's per-stage defaults doing the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from runtime.constants import PREVIEW_STAGE_PATTERN

PROJECT_FILE: Final = "Pulumi.yaml"
PREVIEW_STACK: Final = re.compile(rf"^{PREVIEW_STAGE_PATTERN}$")
SECURE_KEY: Final = "secure"
SCHEMA_KEYS: Final = frozenset({"type", "default", "description", "secret", "items", "value"})


class StackFileError(ValueError):
    """A project or stack file that cannot be read; ``problems`` names each file and key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class StackFiles:
    project: str
    stack: str
    config: Mapping[str, str]  # "ballast:key" -> the string the program receives
    secret_keys: frozenset[str]  # keys whose value is a placeholder for a secret
    source: str  # which file the stack's values came from, or the preview profile

    @property
    def is_preview_profile(self) -> bool:
        return self.source.startswith("preview profile")


def placeholder(key: str) -> str:
    """What a secret config value becomes in the plan: recognisable, never the real value."""
    return f"plan-placeholder-secret-{key.replace(':', '-')}"


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def load_stack_files(project_dir: Path, stack: str, *, stack_file: Path | None = None) -> StackFiles:
    """The config the program would see for ``stack``; ``stack_file`` replaces ``Pulumi.<stack>.yaml``."""
    project_doc = _read_yaml(project_dir / PROJECT_FILE)
    project = project_doc.get("name")
    if not isinstance(project, str) or not project:
        raise StackFileError([f"{PROJECT_FILE}: `name` is missing"])
    problems: list[str] = []
    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, entry in _mapping(project_doc.get("config"), PROJECT_FILE, problems).items():
        full_key = _namespaced(project, key)
        if isinstance(entry, Mapping) and entry and set(entry) <= SCHEMA_KEYS:
            if "default" in entry or "value" in entry:
                values[full_key] = entry.get("value", entry.get("default"))
        else:
            values[full_key] = entry

    path = stack_file or project_dir / stack_file_name(stack)
    if path.is_file():
        source = str(path.name if stack_file is None else path)
        stack_doc = _read_yaml(path)
        for key, entry in _mapping(stack_doc.get("config"), path.name, problems).items():
            values[_namespaced(project, key)] = entry
    elif stack_file is None and PREVIEW_STACK.match(stack):
        source = f"preview profile (no {stack_file_name(stack)})"
    else:
        raise StackFileError([f"{path.name}: not found (create it with `pulumi stack init {stack}`)"])
    if problems:
        raise StackFileError(problems)

    config: dict[str, str] = {}
    for key, value in values.items():
        opened, had_secret = _replace_secure(key, value)
        if had_secret:
            secret_keys.add(key)
        config[key] = config_string(opened)
    return StackFiles(project, stack, config, frozenset(secret_keys), source)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackFileError([f"{path.name}: not found in {path.parent}"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError([f"{path.name}: cannot be read ({type(error).__name__})"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise StackFileError([f"{path.name}: is not valid YAML{where}"]) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError([f"{path.name}: must be a mapping at the top level"])
    return document


def _mapping(value: Any, file_name: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        problems.append(f"{file_name}: `config` must be a mapping of keys to values")
        return {}
    return value


def _namespaced(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _replace_secure(key: str, value: Any) -> tuple[Any, bool]:
    """``value`` with every ``{secure: …}`` replaced by a placeholder, and whether there was one."""
    if isinstance(value, dict):
        if set(value) == {SECURE_KEY}:
            return placeholder(key), True
        found = False
        replaced: dict[str, Any] = {}
        for k, v in value.items():
            replaced[k], secret = _replace_secure(key, v)
            found = found or secret
        return replaced, found
    if isinstance(value, list):
        items = [_replace_secure(key, v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def config_string(value: Any) -> str:
    """A config value as the CLI hands it to the program: a string; objects and lists as compact, sorted JSON;
    None as the empty string. The one conversion, shared by the plan and the tests."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
