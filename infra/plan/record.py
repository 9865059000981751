"""The one mock resource monitor that records every registration the program makes (the offline plan and
the program's tests use it).

Pulumi's mocks give ``Mocks.new_resource`` only type, name and inputs; the monitor sees the whole request —
parent, protect, dependencies, property dependencies, secret outputs — so recording happens here. Each
registration is kept twice: ``inputs`` as the SDK sent them (deserialized, secret wrappers kept: what the
leak checks key on), and ``analyzed``, what the analyzer would receive (``AnalyzedResource``): secret
wrappers opened (the analyzer gets secrets as plain text; the paths are kept so the plan can mask them),
mock ``Unknown`` values replaced by the engine's unknown sentinel (so the analyzer's unknown-checking proxy
behaves as under ``pulumi preview``). Components' and the stack's registered outputs are kept in
``outputs`` by URN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, Mocks
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from infra.policy.evaluate import AnalyzedResource

STACK_TYPE: Final = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class RecordedResource:
    """What the plan shows and the policies check for one registration."""

    analyzed: AnalyzedResource
    custom: bool
    retain_on_delete: bool
    secret_paths: frozenset[str]  # input paths ("environment", "secretString", …) that were secret
    inputs: Mapping[str, Any]  # as the SDK sent them, deserialized, secret wrappers kept
    read: bool = False  # an existing resource read by the program (a StackReference, a `get`)

    @property
    def type(self) -> str:
        return self.analyzed.type

    @property
    def name(self) -> str:
        return self.analyzed.name

    @property
    def urn(self) -> str:
        return self.analyzed.urn


class RecordingMonitor(MockMonitor):
    """``MockMonitor`` that keeps every registration, in order, as a :class:`RecordedResource`."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self.outputs: dict[str, Mapping[str, Any]] = {}

    @property
    def registrations(self) -> list[RecordedResource]:
        """What the program declared (reads of existing resources left out), in order."""
        return [r for r in self.recorded if not r.read]

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # sets up the event loop too
        secret_paths: set[str] = set()
        raw = rpc.deserialize_properties(request.object)
        inputs = analyzer_view(raw, "", secret_paths)
        registration = self.resources.get(response.urn)
        outputs = analyzer_view(registration.state, "", set()) if registration is not None else {}
        analyzed = AnalyzedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            inputs=inputs if isinstance(inputs, Mapping) else {},
            outputs=outputs if isinstance(outputs, Mapping) else {},
            protect=bool(request.protect),
            parent=request.parent or None,
            dependencies=tuple(request.dependencies),
            property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
            ignore_changes=tuple(request.ignoreChanges),
            delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
            additional_secret_outputs=tuple(request.additionalSecretOutputs),
        )
        self.recorded.append(
            RecordedResource(
                analyzed=analyzed,
                custom=bool(request.custom),
                retain_on_delete=bool(request.retainOnDelete),
                secret_paths=frozenset(secret_paths),
                inputs=raw,
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # the gRPC method name
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def ReadResource(self, request: Any) -> Any:  # the gRPC method name
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        secret_paths: set[str] = set()
        raw = rpc.deserialize_properties(request.properties)
        inputs = analyzer_view(raw, "", secret_paths)
        analyzed = AnalyzedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            inputs=inputs if isinstance(inputs, Mapping) else {},
            parent=request.parent or None,
            dependencies=tuple(request.dependencies),
            additional_secret_outputs=tuple(request.additionalSecretOutputs),
        )
        self.recorded.append(
            RecordedResource(
                analyzed=analyzed,
                custom=True,
                retain_on_delete=False,
                secret_paths=frozenset(secret_paths),
                inputs=raw,
                read=True,
            )
        )
        return response


def analyzer_view(value: Any, path: str, secret_paths: set[str]) -> Any:
    """``value`` as the analyzer receives it; every secret's path is added to ``secret_paths``."""
    if isinstance(value, Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            secret_paths.add(path)
            return analyzer_view(value.get("value"), path, secret_paths)
        return {
            k: analyzer_view(v, f"{path}.{k}" if path else str(k), secret_paths) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [analyzer_view(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    return value
