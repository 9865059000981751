"""Reading a stack's configuration from ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` the way the Pulumi CLI
hands it to the program — without the CLI, and without ever decrypting a secret.

- Project-level values (``config:`` in ``Pulumi.yaml``: plain values or ``{default: …}`` schema entries) come
  first; the stack file's ``config:`` overrides them. Keys without a namespace belong to the project.
- Every value reaches the program as a string (``pulumi.Config`` parses objects from JSON), as the CLI does:
  a plain value as written (``2026-01-01``, ``0x10`` and ``yes`` stay text), a map or list as JSON whose
  scalars are typed by YAML 1.2's core schema (what the CLI's YAML library does).
- YAML is read defensively: duplicate keys, non-string map keys, tags beyond the core schema (``!!binary``,
  ``!!set``, ``!!timestamp``…), merge keys, nesting deeper than ``MAX_YAML_DEPTH``, aliases that expand to
  more than ``MAX_YAML_VALUES`` values and files over ``MAX_STACK_FILE_BYTES`` are errors naming the file and
  line, never a traceback or an unbounded run.
- A ``{secure: …}`` value (``pulumi config set --secret``) is replaced by a placeholder and its key listed as
  secret, so ``Config.require_secret`` still returns a secret Output. The ciphertext is never read further.
- A preview stack (``pr-<n>``) without its own file gets the preview profile: project values only, the
  program's per-stage defaults doing the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runtime.constants import PREVIEW_STAGE_PATTERN

PROJECT_FILE: Final = "Pulumi.yaml"
PREVIEW_STACK: Final = re.compile(rf"^{PREVIEW_STAGE_PATTERN}$")
SECURE_KEY: Final = "secure"
SCHEMA_KEYS: Final = frozenset({"type", "default", "description", "secret", "items", "value"})
CONFIG_KEY: Final = "config"
MAX_STACK_FILE_BYTES: Final = 1024 * 1024
MAX_YAML_DEPTH: Final = 64
MAX_YAML_VALUES: Final = 100_000  # after alias expansion: a 2 KB alias bomb would otherwise be billions

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT, _STR = (f"{_TAG}{name}" for name in ("null", "bool", "int", "float", "str"))
_SEQ, _MAP = f"{_TAG}seq", f"{_TAG}map"


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
        with path.open("rb") as stream:
            data = stream.read(MAX_STACK_FILE_BYTES + 1)
        if len(data) > MAX_STACK_FILE_BYTES:
            raise StackFileError([f"{path.name}: is larger than {MAX_STACK_FILE_BYTES // 1024} KiB"])
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise StackFileError([f"{path.name}: not found in {path.parent}"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError([f"{path.name}: cannot be read ({type(error).__name__})"]) from None
    try:
        root = yaml.compose(text, Loader=_Loader)
        document = _Reader().document(root)
    except _YamlProblem as problem:
        raise StackFileError([f"{path.name}: line {problem.line}: {problem.reason}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise StackFileError([f"{path.name}: is not valid YAML{where}"]) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError([f"{path.name}: must be a mapping at the top level"])
    return document


class _YamlProblem(Exception):
    def __init__(self, node: Node | int, reason: str) -> None:
        super().__init__(reason)
        self.line = node if isinstance(node, int) else node.start_mark.line + 1
        self.reason = reason


class _Loader(yaml.SafeLoader):
    """Composes nodes only, resolving plain scalars by YAML 1.2's core schema (as the Pulumi CLI's YAML
    library does: ``yes``, ``1:30`` and dates are strings), with a bounded nesting depth."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlProblem(self.line + 1, f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


for _tag, _pattern, _first in (
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (f"{_TAG}merge", r"^<<$", "<"),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


@dataclass
class _Reader:
    """Node graph → Python values: core-schema scalars only, string keys, no duplicates, aliases counted
    as what they expand to."""

    values: int = 0
    seen: set[int] = field(default_factory=set)

    def document(self, root: Node | None) -> Any:
        if root is None:
            return None
        if not isinstance(root, MappingNode):
            return self.value(root, 0)
        document: dict[str, Any] = {}
        for key, value_node in self.pairs(root, 0):
            if key == CONFIG_KEY and isinstance(value_node, MappingNode):
                # Plain config values reach the program as written (the CLI reads them into strings).
                document[key] = {name: self.literal(node) for name, node in self.pairs(value_node, 1)}
            else:
                document[key] = self.value(value_node, 1)
        return document

    def literal(self, node: Node) -> Any:
        if isinstance(node, ScalarNode) and node.tag in (_STR, _INT, _FLOAT, _BOOL):
            self.count(node)
            _scalar(node)  # an explicit tag (!!int abc) must still hold its type
            return node.value
        return self.value(node, 2)

    def count(self, node: Node) -> None:
        self.values += 1
        if self.values > MAX_YAML_VALUES:
            raise _YamlProblem(node, f"aliases expand to more than {MAX_YAML_VALUES} values")

    def pairs(self, node: MappingNode, depth: int) -> list[tuple[str, Node]]:
        if node.tag != _MAP:
            raise _YamlProblem(node, f"the tag {node.tag.replace(_TAG, '!!')} is not supported")
        self.count(node)
        pairs: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                raise _YamlProblem(key_node, "merge keys (<<) are not supported")
            key = self.value(key_node, depth + 1)
            if not isinstance(key, str):
                raise _YamlProblem(key_node, "map keys must be strings")
            if key in pairs:
                raise _YamlProblem(key_node, f"duplicate key `{key}`")
            pairs[key] = value_node
        return list(pairs.items())

    def value(self, node: Node, depth: int) -> Any:
        if depth > MAX_YAML_DEPTH:
            raise _YamlProblem(node, f"nested deeper than {MAX_YAML_DEPTH} levels (through aliases)")
        if isinstance(node, MappingNode):
            return {key: self.value(item, depth + 1) for key, item in self.pairs(node, depth)}
        self.count(node)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                raise _YamlProblem(node, f"the tag {node.tag.replace(_TAG, '!!')} is not supported")
            return [self.value(item, depth + 1) for item in node.value]
        assert isinstance(node, ScalarNode)
        return _scalar(node)


def _scalar(node: ScalarNode) -> Any:
    text: str = node.value
    try:
        if node.tag == _STR:
            return text
        if node.tag == _NULL:
            return None
        if node.tag == _BOOL:
            return text.lower() == "true"
        if node.tag == _INT:
            base = 16 if text.startswith("0x") else 8 if text.startswith("0o") else 10
            return int(text[2:] if base != 10 else text, base)
        if node.tag == _FLOAT:
            return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf"))
    except ValueError:
        raise _YamlProblem(node, f"is not a valid {node.tag.replace(_TAG, '!!')}") from None
    raise _YamlProblem(node, f"the tag {node.tag.replace(_TAG, '!!')} is not supported (use a plain value)")


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
