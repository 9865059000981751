"""Runs the whole Pulumi program (``infra.stack.program``) under Pulumi's mocks for one stack, with the
committed stack files as config, and records every registration and the stack's outputs.

``preview=False`` so every output is known; everything asserted on is read from what the monitor recorded
(resolved inputs, options, stack outputs) after the program ran, so no assertion hides in an ``apply``
that might never run. Secret values stay wrapped in the recording (``rpc.is_rpc_secret``), which is what
the leak checks key on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import rpc, settings

from infra.build import planned_code, planned_layer
from infra.plan.mocks import RecordingMocks
from infra.plan.record import RecordedResource, RecordingMonitor
from infra.plan.stackfiles import load_stack_files
from infra.stack import Stage, program

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ballast"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    protect: bool
    retain_on_delete: bool
    dependencies: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    inputs: Mapping[str, Any]  # deserialized; secrets still wrapped


class CapturingMonitor(RecordingMonitor):
    """The plan's recording monitor, with its registrations in the shape these tests compare."""

    @property
    def registrations(self) -> list[Registration]:  # type: ignore[override]
        return [_registration(r) for r in super().registrations]


def _registration(recorded: RecordedResource) -> Registration:
    analyzed = recorded.analyzed
    return Registration(
        type=recorded.type,
        name=recorded.name,
        urn=recorded.urn,
        parent=analyzed.parent or "",
        custom=recorded.custom,
        protect=analyzed.protect,
        retain_on_delete=recorded.retain_on_delete,
        dependencies=analyzed.dependencies,
        additional_secret_outputs=analyzed.additional_secret_outputs,
        inputs=recorded.inputs,
    )


@dataclass
class ProgramRun:
    stack: str
    mocks: RecordingMocks
    monitor: CapturingMonitor
    stage: Stage
    secret_config: dict[str, str] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.monitor.registrations if r.type == type_]

    def one(self, type_: str) -> Registration:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {len(found)}"
        return found[0]

    @property
    def exports(self) -> Mapping[str, Any]:
        [stack_urn] = [urn for urn in self.monitor.outputs if f"::{STACK_TYPE}::" in urn]
        return self.monitor.outputs[stack_urn]

    def planted_secrets(self) -> set[str]:
        return set(self.mocks.generated_secrets) | set(self.secret_config.values())


def committed_config(stack: str) -> dict[str, str]:
    """``Pulumi.yaml``'s project values overlaid with ``Pulumi.<stack>.yaml`` (if any), as the CLI passes
    them — read by the offline plan's own loader (``infra.plan.stackfiles``), so both see the same strings."""
    return dict(load_stack_files(REPO_ROOT, stack).config)


def run_program(
    stack: str,
    *,
    overrides: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    remove: tuple[str, ...] = (),
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    mocks: RecordingMocks | None = None,
) -> ProgramRun:
    """Run the program for ``stack``; ``secrets`` are config set with ``--secret`` (full keys); ``mocks``
    replaces the default answers (e.g. a subclass that runs a real provider)."""
    config = {**committed_config(stack), **(overrides or {}), **(secrets or {})}
    for key in remove:
        config.pop(key, None)
    pulumi.runtime.set_all_config(config, sorted(secrets or {}))
    mocks = mocks or RecordingMocks(stack=stack, stack_outputs=dict(stack_outputs or {}))
    monitor = CapturingMonitor(mocks)
    settings.ROOT.set(None)  # each run is its own stack: set_mocks then registers a fresh root Stack
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    declared: list[Stage] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def declare() -> None:
        declared.append(program(build_layer=planned_layer, build_code=planned_code))
        # What the engine does when the program ends: register what pulumi.export collected on the stack.
        root = pulumi.runtime.get_root_resource()
        assert root is not None
        root.register_outputs(dict(root.outputs))  # type: ignore[attr-defined]

    declare()
    return ProgramRun(stack, mocks, monitor, declared[0], dict(secrets or {}))


def plain_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string not inside a secret wrapper."""
    if rpc.is_rpc_secret(value):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from plain_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from plain_strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def secret_paths(value: Any, path: str = "") -> Iterator[str]:
    """Paths of every secret wrapper in ``value``."""
    if rpc.is_rpc_secret(value):
        yield path
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from secret_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from secret_paths(item, f"{path}[{index}]")


def unwrapped(value: Any) -> Any:
    """``value`` with every secret wrapper opened (to compare values, never to print them)."""
    if rpc.is_rpc_secret(value):
        return unwrapped(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: unwrapped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unwrapped(v) for v in value]
    return value
