"""``RecordingMocks``: Pulumi mocks that answer every resource Ballast declares with plausible outputs and
record what was asked — for the program's unit tests and the offline plan (``python -m infra plan``).

Outputs are deterministic per (stack, resource name), so two stacks never share an ID, host or password,
and outputs the real providers return as secrets (``additional_secret_outputs``: Neon role passwords and
connection URIs, the Sentry DSN, ``random`` passwords) come back secret, as the engine would make them.
Every secret value generated is kept in ``generated_secrets`` so tests can prove none leaks in plain text.

    mocks = RecordingMocks(stack="staging")
    pulumi.runtime.set_mocks(mocks, project="ballast", stack="staging", preview=False)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pulumi
from pulumi.runtime import rpc

REGION: Final = "eu-central-1"
ACCOUNT: Final = "123456789012"
NEON_DOMAIN: Final = f"{REGION}.aws.neon.tech"
STACK_REFERENCE_TYPE: Final = "pulumi:pulumi:StackReference"
CALL_ANSWERS: Final[Mapping[str, Mapping[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
        "userId": "AIDAMOCK",
    },
    "aws:index/getRegion:getRegion": {"name": REGION, "region": REGION, "id": REGION},
}

Outputs = dict[str, Any]


@dataclass(frozen=True)
class MockedResource:
    """One ``new_resource`` call: what the program asked for (secret inputs still wrapped) and the answer."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    resource_id: str
    outputs: Mapping[str, Any]
    provider: str | None
    read: bool  # a read of an existing resource (``get`` / StackReference), not a registration


@dataclass(frozen=True)
class MockedCall:
    token: str
    args: Mapping[str, Any]


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Plausible provider answers for AWS, random and Ballast's dynamic Neon/Sentry resources.

    ``stack_outputs`` answers StackReferences by referenced stack name (the last path segment); a stack not
    listed answers with generated ``neonProjectId`` and ``neonBranchId`` outputs.
    """

    stack: str = "stack"
    stack_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resources: list[MockedResource] = field(default_factory=list)
    calls: list[MockedCall] = field(default_factory=list)
    generated_secrets: set[str] = field(default_factory=set)

    # Mocks API -------------------------------------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = {k: v for k, v in args.inputs.items() if k != "__provider"}
        answer = self._answer_for(args.typ)
        resource_id, computed = answer(args.name, inputs, args.resource_id or None)
        outputs = {**inputs, **computed}
        self.resources.append(
            MockedResource(
                type=args.typ,
                name=args.name,
                inputs=inputs,
                resource_id=resource_id,
                outputs=outputs,
                provider=args.provider or None,
                read=bool(args.resource_id),
            )
        )
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append(MockedCall(args.token, dict(args.args)))
        return dict(CALL_ANSWERS.get(args.token, {})), None

    # Queries ---------------------------------------------------------------------------------------------

    def of_type(self, type_: str) -> list[MockedResource]:
        return [r for r in self.resources if r.type == type_ or r.type.endswith(f"/{type_}")]

    def one(self, type_: str) -> MockedResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]

    # Answers ---------------------------------------------------------------------------------------------

    def _answer_for(self, type_: str) -> Callable[[str, Mapping[str, Any], str | None], tuple[str, Outputs]]:
        if type_.startswith("pulumi:providers:"):
            return lambda name, _inputs, _id: (f"{name}-provider-id", {})
        dynamic = type_.removeprefix("pulumi-python:dynamic/")
        answers: dict[str, Callable[[str, Mapping[str, Any], str | None], tuple[str, Outputs]]] = {
            STACK_REFERENCE_TYPE: self._stack_reference,
            "neon:Project": self._neon_project,
            "neon:Branch": self._neon_branch,
            "neon:Role": self._neon_role,
            "neon:Database": self._neon_database,
            "neon:Connection": self._neon_connection,
            "sentry:Project": self._sentry_project,
            "sentry:ClientKey": self._sentry_key,
            "random:index/randomPassword:RandomPassword": self._random_password,
            "aws:secretsmanager/secret:Secret": self._secrets_manager_secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
            "aws:iam/role:Role": self._iam_role,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:lambda/layerVersion:LayerVersion": self._layer,
            "aws:lambda/function:Function": self._function,
            "aws:lambda/functionUrl:FunctionUrl": self._function_url,
            "aws:sns/topic:Topic": self._sns_topic,
            "sentry:MetricMonitor": self._sentry_monitor,
            "sentry:Alert": self._sentry_alert,
            "aws:apigatewayv2/api:Api": self._http_api,
            "aws:apigatewayv2/integration:Integration": self._integration,
            "aws:apigatewayv2/stage:Stage": self._api_stage,
            "aws:cloudwatch/eventRule:EventRule": self._event_rule,
        }
        return answers.get(dynamic, self._echo)

    def _token(self, *parts: str, length: int = 8) -> str:
        return hashlib.sha256(":".join((self.stack, *parts)).encode()).hexdigest()[:length]

    def _secrets_manager_secret(
        self, name: str, inputs: Mapping[str, Any], _id: str | None
    ) -> tuple[str, Outputs]:
        base = _plain(inputs.get("namePrefix")) or _plain(inputs.get("name")) or name
        secret_name = f"{base}{self._token(name, length=6)}"
        arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret_name}"
        return arn, {"arn": arn, "name": secret_name}

    def _generated_secret(self, value: str) -> Any:
        self.generated_secrets.add(value)
        return rpc.wrap_rpc_secret(value)

    def _echo(self, name: str, _inputs: Mapping[str, Any], resource_id: str | None) -> tuple[str, Outputs]:
        return resource_id or f"{name}-id", {}

    def _stack_reference(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        target = str(_plain(inputs.get("name")) or name)
        short = target.rsplit("/", 1)[-1]
        outputs = self.stack_outputs.get(short) or {
            "neonProjectId": f"mock-project-{hashlib.sha256(short.encode()).hexdigest()[:8]}",
            "neonBranchId": f"br-{short}-{hashlib.sha256(short.encode()).hexdigest()[:6]}",
        }
        return target, {"name": target, "outputs": dict(outputs), "secretOutputNames": []}

    def _neon_project(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        adopted = _plain(inputs.get("adopt_project_id"))
        project_id = str(adopted or f"mock-project-{self._token(name)}")
        return project_id, {
            "project_id": project_id,
            "default_branch_id": f"br-{self._token(name, 'default')}",
            "proxy_host": NEON_DOMAIN,
            "adopted": bool(adopted),
        }

    def _neon_branch(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        adopted = bool(_plain(inputs.get("adopt_default_branch")))
        branch_id = f"br-{self._token(name, 'branch')}"
        endpoint_id = f"ep-{self._token(name, 'endpoint')}"
        return branch_id, {
            "branch_id": branch_id,
            "endpoint_id": endpoint_id,
            "host": f"{endpoint_id}.{NEON_DOMAIN}",
            "pooler_host": f"{endpoint_id}-pooler.{NEON_DOMAIN}",
            "is_default": adopted,
            "adopted": adopted,
        }

    def _role_password(self, branch_id: Any, role: Any) -> str:
        return f"npg_{self._token('role', str(branch_id), str(role), length=20)}"

    def _neon_role(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        branch_id, role = _plain(inputs.get("branch_id")), _plain(inputs.get("role_name"))
        password = self._role_password(branch_id, role)
        return f"{branch_id}/{role}", {
            "password": self._generated_secret(password),
            "password_revision": "2026-01-01T00:00:00Z",
            "adopted": False,
        }

    def _neon_database(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        return f"{_plain(inputs.get('branch_id'))}/{_plain(inputs.get('database_name'))}", {"adopted": False}

    def _neon_connection(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        endpoint, role = _plain(inputs.get("endpoint_id")), _plain(inputs.get("role_name"))
        database = _plain(inputs.get("database_name"))
        password = self._role_password(_plain(inputs.get("branch_id")), role)
        direct = f"postgresql://{role}:{password}@{endpoint}.{NEON_DOMAIN}/{database}?sslmode=require"
        pooled = f"postgresql://{role}:{password}@{endpoint}-pooler.{NEON_DOMAIN}/{database}?sslmode=require"
        return f"{endpoint}/{database}/{role}", {
            "pooled_uri": self._generated_secret(pooled),
            "direct_uri": self._generated_secret(direct),
        }

    def _sentry_project(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        project_id = str(int(self._token(name, "sentry"), 16) % 10_000_000)
        return f"{_plain(inputs.get('organization'))}/{_plain(inputs.get('project_slug'))}", {
            "project_id": project_id
        }

    def _sentry_key(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        public_key = self._token(name, "dsn", length=32)
        dsn = f"https://{public_key}@o4500.ingest.sentry.io/{int(self._token(name, 'p'), 16) % 10_000_000}"
        key_id = self._token(name, "key")
        return key_id, {"key_id": key_id, "dsn": self._generated_secret(dsn)}

    def _random_password(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        length = int(_plain(inputs.get("length")) or 32)
        seed = hashlib.sha256(f"{self.stack}:{name}:password".encode()).hexdigest()
        value = (seed * (length // len(seed) + 1))[:length]
        return "none", {
            "result": self._generated_secret(value),
            "bcryptHash": self._generated_secret(f"$2a$10${seed[:53]}"),
        }

    def _secret_version(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        version = f"v-{self._token(name)}"
        return f"{_plain(inputs.get('secretId'))}|{version}", {
            "arn": _plain(inputs.get("secretId")),
            "versionId": version,
            "versionStages": ["AWSCURRENT"],
        }

    def _iam_role(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        role_name = _plain(inputs.get("name")) or f"{name}-{self._token(name, length=7)}"
        return str(role_name), {
            "arn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
            "name": role_name,
            "uniqueId": f"AROA{self._token(name, 'role', length=16).upper()}",
        }

    def _log_group(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        group = str(_plain(inputs.get("name")) or name)
        return group, {"arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}", "name": group}

    def _layer(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        layer_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{_plain(inputs.get('layerName')) or name}"
        return f"{layer_arn}:1", {"layerArn": layer_arn, "arn": f"{layer_arn}:1", "version": "1"}

    def _function(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        function_name = str(_plain(inputs.get("name")) or f"{name}-{self._token(name, length=7)}")
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        invoke = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
        return function_name, {
            "arn": arn,
            "name": function_name,
            "invokeArn": invoke,
            "qualifiedArn": f"{arn}:$LATEST",
            "version": "$LATEST",
        }

    def _function_url(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        url_id = self._token(name, "url", length=32)
        return str(_plain(inputs.get("functionName")) or name), {
            "functionUrl": f"https://{url_id}.lambda-url.{REGION}.on.aws/",
            "urlId": url_id,
        }

    def _sns_topic(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{_plain(inputs.get('name')) or name}"
        return arn, {"arn": arn}

    def _sentry_monitor(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        monitor_id = str(int(self._token(name, "monitor"), 16) % 10_000_000)
        return monitor_id, {"monitor_id": monitor_id, "team_id": "1"}

    def _sentry_alert(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        alert_id = str(int(self._token(name, "alert"), 16) % 10_000_000)
        return alert_id, {"alert_id": alert_id, "team_id": "1"}

    def _http_api(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        api_id = self._token(name, "api", length=10)
        return api_id, {
            "apiEndpoint": f"https://{api_id}.execute-api.{REGION}.amazonaws.com",
            "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}",
            "arn": f"arn:aws:apigateway:{REGION}::/apis/{api_id}",
        }

    def _integration(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        return self._token(name, "integration", length=7), {}

    def _api_stage(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        stage = str(_plain(inputs.get("name")) or name)
        return stage, {
            "invokeUrl": f"https://{_plain(inputs.get('apiId'))}.execute-api.{REGION}.amazonaws.com/"
        }

    def _event_rule(self, name: str, inputs: Mapping[str, Any], _id: str | None) -> tuple[str, Outputs]:
        rule = str(_plain(inputs.get("name")) or name)
        return rule, {"arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}", "name": rule}


def _plain(value: Any) -> Any:
    """``value`` with a secret wrapper removed (mock inputs keep them)."""
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value
