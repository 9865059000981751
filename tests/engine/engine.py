"""The engine's side of ``pulumi preview/up/refresh/destroy`` for Ballast's dynamic resources, no CLI needed.

What the Pulumi CLI does, read from pulumi/pulumi (commit ``1b59498``) and done the same way:

- **Program.** The Python language host runs ``<venv>/bin/python pulumi-language-python-exec --monitor …
  --pwd <program dir> … .`` (``sdk/python/cmd/pulumi-language-python/main.go`` ``Run``): the virtualenv is
  the project's ``virtualenv`` option resolved against the project root (``toolchain/pip.go``), the config
  comes in ``PULUMI_CONFIG`` / ``PULUMI_CONFIG_SECRET_KEYS``, the entry point is ``.`` when ``Pulumi.yaml``
  has no ``main`` (``pkg/engine/project.go`` ``getPwdMain``). ``launch.py program`` does that exec step
  with the SDK's runtime functions (see :mod:`tests.engine.launch`); the program talks over real gRPC to
  :class:`Monitor`, which plays the engine's resource monitor.
- **Provider host.** The engine starts ``pulumi-resource-pulumi-python <engine>`` with the program
  directory as working directory and the project's runtime options as ``PULUMI_RUNTIME_*`` variables
  (``provider_plugin.go`` ``NewProvider``); the launcher (``launch.py provider``) runs ``<venv>/bin/python
  -u -m pulumi.dynamic``. :class:`ProviderHost` does that and speaks ``ResourceProvider`` over gRPC.
- **Steps** (``pkg/resource/deploy/step.go``, ``provider_plugin.go``): Configure with the whole stack config
  (namespaces kept, secrets marked — ``target.go`` ``GetPackageConfig``); per registration Check(old inputs,
  new inputs), then for an existing resource Diff(old outputs, checked inputs); in a preview a provider
  without preview support (the dynamic one) is not called to create or update: the checked inputs stand
  in for the outputs, so computed outputs come back unknown; ``up`` calls Create/Update. Secrets are taken
  off before anything is sent to the provider (it does not accept them) and put back on the outputs of
  secret inputs and ``additionalSecretOutputs``. Refresh is Read(old outputs, old inputs) and then the
  inverted Diff(new outputs, old inputs); destroy is Delete(old outputs) in reverse order.

Everything else the program declares (AWS, random, StackReference) is answered by the plan's mocks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import (
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)

from infra.plan.mocks import RecordingMocks

LAUNCH: Final = Path(__file__).resolve().parent / "launch.py"
DYNAMIC_PREFIX: Final = "pulumi-python:dynamic/"
PROVIDER_TYPE: Final = "pulumi:providers:pulumi-python"
SECRET_KEY: Final = rpc._special_sig_key
SECRET_SIG: Final = rpc._special_secret_sig
UNKNOWN: Final = rpc.UNKNOWN
STARTUP_TIMEOUT_SECONDS: Final = 60
RPC_TIMEOUT_SECONDS: Final = 60
PROGRAM_TIMEOUT_SECONDS: Final = 180
# Variables of the test process that must not reach the engine's children (the CLI never sets them).
DROPPED_ENV: Final = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "NEON_API_KEY", "SENTRY_AUTH_TOKEN")


# The project as the engine reads it -----------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """``Pulumi.yaml``: name, program directory (``main`` or the root) and the runtime options."""

    root: Path
    name: str
    program_dir: Path
    options: Mapping[str, Any]

    @staticmethod
    def load(root: Path) -> Project:
        doc = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
        runtime = doc["runtime"]
        options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
        main = doc.get("main")
        program_dir = (root / main).resolve() if main else root  # getPwdMain: a directory main is the pwd
        return Project(root, doc["name"], program_dir, dict(options))

    @property
    def virtualenv(self) -> Path:
        """The pip toolchain's ``resolveVirtualEnvironmentPath(root, virtualenv)``: relative to the root."""
        return Path(
            os.path.normpath(self.root / str(self.options["virtualenv"]))
        )  # filepath.Join: no symlinks

    def runtime_env(self) -> dict[str, str]:
        """What ``NewProvider`` hands every provider plugin: ``PULUMI_RUNTIME_<OPTION>``, the project name."""
        env = {f"PULUMI_RUNTIME_{k.upper()}": str(v) for k, v in self.options.items()}
        return env | {"PULUMI_PROJECT": self.name, "PULUMI_CONFIG": "{}"}


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    return env | dict(extra or {})


def activated(env: Mapping[str, str], venv: Path) -> dict[str, str]:
    """``toolchain.ActivateVirtualEnv``: the venv's bin first on PATH, VIRTUAL_ENV set, no PYTHONHOME."""
    return {**env, "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}", "VIRTUAL_ENV": str(venv)}


def provider_launcher_command(engine_address: str) -> list[str]:
    """The plugin the engine starts for ``pulumi-python`` providers; the launcher picks the venv itself, so
    the interpreter starting it is any Python (the real one is a shell script)."""
    return [sys.executable, str(LAUNCH), "provider", engine_address]


# Property values on the wire ------------------------------------------------------------------------------


def to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(dict(value), struct_pb2.Struct())


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_KEY) == SECRET_SIG


def secret(value: Any) -> dict[str, Any]:
    return {SECRET_KEY: SECRET_SIG, "value": value}


def without_secrets(props: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """The properties with every secret wrapper opened (what a provider that refuses secrets gets), and
    the top-level keys that held one."""

    def opened(value: Any) -> tuple[Any, bool]:
        if is_secret(value):
            return opened(value["value"])[0], True
        if isinstance(value, dict):
            items = {k: opened(v) for k, v in value.items()}
            return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
        if isinstance(value, list):
            items_list = [opened(v) for v in value]
            return [v for v, _ in items_list], any(s for _, s in items_list)
        return value, False

    plain: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, value in props.items():
        plain[key], had = opened(value)
        if had:
            secret_keys.add(key)
    return plain, frozenset(secret_keys)


def with_secrets(props: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: secret(v) if k in keys else v for k, v in props.items()}


# The dynamic provider host -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    changes: int  # provider_pb2.DiffResponse.DIFF_NONE / DIFF_SOME / DIFF_UNKNOWN
    replaces: tuple[str, ...]
    delete_before_replace: bool

    @property
    def some(self) -> bool:
        return self.changes == provider_pb2.DiffResponse.DIFF_SOME


class ProviderError(Exception):
    """The provider host answered an RPC with an error (its message, the host's traceback included)."""


class ProviderHost:
    """``python -m pulumi.dynamic`` started through the launcher as the engine starts its plugin."""

    def __init__(self, project: Project, engine_address: str = "127.0.0.1:1") -> None:
        self.process = subprocess.Popen(
            provider_launcher_command(engine_address),
            cwd=project.program_dir,
            env=child_env(project.runtime_env()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # the provider host and any child it starts: stop them by the group id
        )
        self._stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        port = self._first_line(STARTUP_TIMEOUT_SECONDS)
        if not port.isdigit():
            self.close()
            raise ProviderError(f"the provider host printed {port!r}; stderr: {self.stderr[-3000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def _first_line(self, timeout: float) -> str:
        lines: list[str] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return lines[0].strip() if lines else ""

    def close(self) -> None:
        if hasattr(self, "channel"):
            self.channel.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this object started, by its id
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=RPC_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise ProviderError(f"{method}: {error.details()}") from None  # type: ignore[attr-defined]

    def configure(
        self, config: Mapping[str, str], secret_keys: frozenset[str]
    ) -> provider_pb2.ConfigureResponse:
        """As ``provider.Configure``: the whole stack config as args, secrets marked (KeepSecrets)."""
        args = {k: secret(v) if k in secret_keys else v for k, v in config.items()}
        request = provider_pb2.ConfigureRequest(
            args=to_struct(args),
            variables={f"pulumi-python:config:{k}": v for k, v in config.items()},
            acceptSecrets=True,
            acceptResources=True,
            sends_old_inputs=True,
            sends_old_inputs_to_delete=True,
            type=PROVIDER_TYPE,
            name="default",
        )
        return self._call("Configure", request)  # type: ignore[no-any-return]

    def check(
        self, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        response = self._call(
            "Check", provider_pb2.CheckRequest(urn=urn, olds=to_struct(olds), news=to_struct(news))
        )
        return to_dict(response.inputs), [(f.property, f.reason) for f in response.failures]

    def diff(
        self,
        id_: str,
        urn: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        old_inputs: Mapping[str, Any],
    ) -> Diff:
        request = provider_pb2.DiffRequest(
            id=id_, urn=urn, olds=to_struct(olds), news=to_struct(news), old_inputs=to_struct(old_inputs)
        )
        response = self._call("Diff", request)
        return Diff(response.changes, tuple(response.replaces), bool(response.deleteBeforeReplace))

    def create(self, urn: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self._call("Create", provider_pb2.CreateRequest(urn=urn, properties=to_struct(inputs)))
        return response.id, to_dict(response.properties)

    def update(
        self,
        id_: str,
        urn: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        old_inputs: Mapping[str, Any],
    ) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id=id_, urn=urn, olds=to_struct(olds), news=to_struct(news), old_inputs=to_struct(old_inputs)
        )
        return to_dict(self._call("Update", request).properties)

    def read(
        self, id_: str, urn: str, outputs: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        request = provider_pb2.ReadRequest(
            id=id_, urn=urn, properties=to_struct(outputs), inputs=to_struct(inputs)
        )
        response = self._call("Read", request)
        new_inputs = to_dict(response.inputs) if response.HasField("inputs") else None
        return response.id, to_dict(response.properties), new_inputs

    def delete(self, id_: str, urn: str, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        request = provider_pb2.DeleteRequest(
            id=id_, urn=urn, properties=to_struct(outputs), old_inputs=to_struct(inputs)
        )
        self._call("Delete", request)


@contextmanager
def provider_host(
    project: Project, config: Mapping[str, str], secret_keys: frozenset[str]
) -> Iterator[ProviderHost]:
    host = ProviderHost(project)
    try:
        host.configure(config, secret_keys)
        yield host
    finally:
        host.close()


# State, steps and the resource monitor --------------------------------------------------------------------


@dataclass
class Resource:
    """One dynamic resource in the state (plain values; ``secret_keys`` says which are secret)."""

    urn: str
    type: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    secret_keys: frozenset[str]


@dataclass(frozen=True)
class Registration:
    """A dynamic resource's RegisterResource request, as the SDK serialized it (secrets wrapped)."""

    urn: str
    type: str
    object: Mapping[str, Any]
    additional_secret_outputs: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    urn: str
    op: str  # create, same, update, replace (preview or up); refresh diffs are kept apart
    checked: Mapping[str, Any]  # the inputs Check returned (unknowns as the wire's sentinel)
    diff: Diff | None = None


@dataclass
class Deployment:
    """One stack's state and the steps of each operation, over one provider host."""

    project: Project
    stack: str
    config: dict[str, str]
    secret_keys: frozenset[str]
    host: ProviderHost
    stack_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    state: dict[str, Resource] = field(default_factory=dict)
    others: dict[str, tuple[str, struct_pb2.Struct]] = field(default_factory=dict)  # mocked, by URN

    def run(self, *, preview: bool) -> Run:
        """``pulumi preview`` (``preview=True``) or ``pulumi up`` for the dynamic resources."""
        current = Run(preview)
        monitor = Monitor(self, current, RecordingMocks(stack=self.stack, stack_outputs=self.stack_outputs))
        with serving(monitor) as (monitor_address, engine_address):
            current.completed = run_language_host(
                self.project,
                self.stack,
                self.config,
                self.secret_keys,
                monitor_address,
                engine_address,
                preview,
            )
        return current

    def register(self, urn: str, request: Any, run: Run) -> resource_pb2.RegisterResourceResponse:
        sent = to_dict(request.object)
        run.registrations.append(
            Registration(urn, request.type, sent, tuple(request.additionalSecretOutputs))
        )
        news, secret_inputs = without_secrets(sent)
        secret_keys = secret_inputs | set(request.additionalSecretOutputs)
        old = self.state.get(urn)
        checked, failures = self.host.check(urn, old.inputs if old else {}, news)
        if failures:
            run.failures[urn] = failures
            raise ProviderError(f"{urn}: " + "; ".join(f"{p}: {r}" for p, r in failures))
        diff = self.host.diff(old.id, urn, old.outputs, checked, old.inputs) if old else None
        op = "create" if old is None else "same" if diff is None or not diff.some else "update"
        if diff is not None and diff.replaces:
            op = "replace"
        run.steps.append(Step(urn, op, checked, diff))
        if run.preview:  # the dynamic provider has no preview: its inputs stand in for the outputs
            outputs = old.outputs if op == "same" and old else checked
            resource_id = old.id if old and op in ("same", "update") else ""
        else:
            resource_id, outputs = self._apply(urn, request.type, op, old, checked, secret_keys)
        response_object = to_struct(with_secrets(outputs, secret_keys))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=response_object)

    def _apply(
        self,
        urn: str,
        type_: str,
        op: str,
        old: Resource | None,
        checked: dict[str, Any],
        secret_keys: frozenset[str],
    ) -> tuple[str, dict[str, Any]]:
        if op == "same" and old is not None:
            self.state[urn] = Resource(urn, type_, old.id, checked, old.outputs, secret_keys)
            return old.id, old.outputs
        if op == "update" and old is not None:
            outputs = self.host.update(old.id, urn, old.outputs, checked, old.inputs)
            self.state[urn] = Resource(urn, type_, old.id, checked, outputs, secret_keys)
            return old.id, outputs
        if op == "replace" and old is not None:
            raise AssertionError(f"{urn}: a replacement during up is not expected in these scenarios")
        resource_id, outputs = self.host.create(urn, checked)
        self.state[urn] = Resource(urn, type_, resource_id, checked, outputs, secret_keys)
        return resource_id, outputs

    def refresh(self) -> dict[str, Diff]:
        """``pulumi refresh``: Read each resource, store what it returned, and the refresh diff per URN."""
        diffs: dict[str, Diff] = {}
        for urn, old in list(self.state.items()):
            resource_id, outputs, inputs = self.host.read(old.id, urn, old.outputs, old.inputs)
            if not resource_id:
                del self.state[urn]
                continue
            new_inputs = inputs if inputs is not None else old.inputs
            self.state[urn] = Resource(urn, old.type, resource_id, new_inputs, outputs, old.secret_keys)
            # RefreshStep: Diff(new outputs as the olds, the old inputs as the news), then inverted.
            diffs[urn] = self.host.diff(resource_id, urn, outputs, old.inputs, new_inputs)
        return diffs

    def destroy(self) -> list[str]:
        """``pulumi destroy``: Delete each resource, last created first; the URNs deleted."""
        deleted = []
        for urn, resource in reversed(list(self.state.items())):
            self.host.delete(resource.id, urn, resource.outputs, resource.inputs)
            deleted.append(urn)
            del self.state[urn]
        return deleted


@dataclass
class Run:
    preview: bool
    registrations: list[Registration] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    logs: list[tuple[int, str]] = field(default_factory=list)
    completed: subprocess.CompletedProcess[str] | None = None

    def step(self, type_suffix: str) -> Step:
        [found] = [s for s in self.steps if s.urn.split("::")[-2].endswith(type_suffix)]
        return found

    def errors(self) -> list[str]:
        return [message for severity, message in self.logs if severity >= 3]  # engine_pb2.ERROR


class Monitor(MockMonitor):
    """The resource monitor: dynamic resources go through the provider host, the rest to the plan's mocks."""

    def __init__(self, deployment: Deployment, run: Run, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.deployment = deployment
        self.run = run

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """``resource.NewURN``: stack and project of the deployment; the parent's qualified type first,
        unless the parent is the root stack."""
        parent_type = parent.split("::")[2] if parent else ""
        qualified = type_ if parent_type in ("", "pulumi:pulumi:Stack") else f"{parent_type}${type_}"
        return f"urn:pulumi:{self.deployment.stack}::{self.deployment.project.name}::{qualified}::{name}"

    def RegisterResource(self, request: Any) -> Any:  # gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type.startswith(DYNAMIC_PREFIX):
            return self.deployment.register(urn, request, self.run)
        if not request.custom or request.type.startswith("pulumi:providers:"):
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        # Other providers' resources: the mocks answer an up; a preview answers as the engine does — the
        # stored outputs of what exists, and for a create the inputs only (id and computed outputs unknown).
        known = self.deployment.others.get(urn)
        if self.run.preview:
            if known is not None:
                return resource_pb2.RegisterResourceResponse(urn=urn, id=known[0], object=known[1])
            return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=request.object)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.deployment.others[urn] = (response.id, response.object)
        return response


class _MonitorService(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def _guard(self, context: Any, call: Any) -> Any:
        try:
            return call()
        except Exception as error:  # reported to the program as the engine reports a failed step
            context.abort(grpc.StatusCode.UNKNOWN, str(error))

    def SupportsFeature(self, request: Any, context: Any) -> Any:
        answer = self.monitor.SupportsFeature(request)  # type: ignore[no-untyped-call]
        return resource_pb2.SupportsFeatureResponse(hasSupport=answer.hasSupport)

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:
        return self.monitor.GetDeploymentInfo(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any, context: Any) -> Any:
        return self._guard(context, lambda: self.monitor.RegisterResource(request))

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def ReadResource(self, request: Any, context: Any) -> Any:
        return self._guard(context, lambda: self.monitor.ReadResource(request))  # type: ignore[no-untyped-call]

    def Invoke(self, request: Any, context: Any) -> Any:
        return self._guard(context, lambda: self.monitor.Invoke(request))  # type: ignore[no-untyped-call]

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()


class _EngineService(engine_pb2_grpc.EngineServicer):
    def __init__(self, run: Run) -> None:
        self.run = run
        self.root = ""

    def Log(self, request: Any, context: Any) -> Any:
        self.run.logs.append((int(request.severity), request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:
        from pulumi.runtime.proto import engine_pb2

        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request: Any, context: Any) -> Any:
        from pulumi.runtime.proto import engine_pb2

        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()


@contextmanager
def serving(monitor: Monitor) -> Iterator[tuple[str, str]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(_MonitorService(monitor), server)
    monitor_port = server.add_insecure_port("127.0.0.1:0")
    engine = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(_EngineService(monitor.run), engine)
    engine_port = engine.add_insecure_port("127.0.0.1:0")
    server.start()
    engine.start()
    try:
        yield f"127.0.0.1:{monitor_port}", f"127.0.0.1:{engine_port}"
    finally:
        server.stop(grace=None)
        engine.stop(grace=None)


def run_language_host(
    project: Project,
    stack: str,
    config: Mapping[str, str],
    secret_keys: frozenset[str],
    monitor_address: str,
    engine_address: str,
    preview: bool,
) -> subprocess.CompletedProcess[str]:
    """What ``pythonLanguageHost.Run`` executes: the venv's python, the exec step, the program's pwd."""
    args = [
        str(project.virtualenv / "bin" / "python"),
        str(LAUNCH),
        "program",
        "--monitor", monitor_address,
        "--engine", engine_address,
        "--project", project.name,
        "--root_directory", str(project.root),
        "--stack", stack,
        "--pwd", str(project.program_dir),
        "--dry_run", "true" if preview else "false",
        "--parallel", "4",
        "--organization", "organization",
        ".",
    ]  # fmt: skip
    env = activated(child_env(), project.virtualenv)
    env |= {
        "PULUMI_CONFIG": json.dumps(dict(config)),
        "PULUMI_CONFIG_SECRET_KEYS": json.dumps(sorted(secret_keys)),
    }
    return subprocess.run(
        args,
        cwd=LAUNCH.parent,  # not the program's directory: --pwd moves the program there
        env=env,
        capture_output=True,
        text=True,
        timeout=PROGRAM_TIMEOUT_SECONDS,
        check=False,
    )
