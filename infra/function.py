"""``FunctionRuntime``: the stage's Lambda layer (runtime + dependencies) and its health function.

- **Layer** ``ballast-<stage>-runtime``: ``infra.build``'s reproducible zip; the team's own functions add
  the same layer ARN and import ``runtime`` from ``/opt/python``. ``source_code_hash`` is the zip's sha256,
  so an unchanged tree never publishes a new version.
- **Health function** ``ballast-<stage>-health`` (handler ``runtime.handler.handle``): its code *is* the
  layer, so its own package holds only a note. Memory, timeout and architecture come from the stage.
- **Log group** ``/aws/lambda/<function>`` with the stage's retention, created before the function and
  named in its ``logging_config`` (otherwise Lambda creates one that never expires).
- **Role**: trust ``lambda.amazonaws.com``; may only create streams in and write to that one log group.
  No Secrets Manager grant: the function gets its credentials as environment variables (encrypted at rest
  with KMS; see the README's "Secrets" section for why), so it needs none.
- **Function URL** serving ``/api/health…``. ``NONE`` (the default) lets uptime checkers call it unsigned:
  the answer holds statuses and timings only, and reserved concurrency bounds what a flood can cost or do
  to the database. ``AWS_IAM`` accepts only SigV4-signed callers. CORS: the stage's origins, GET/HEAD only.
- **Reserved concurrency**: from ``infra.concurrency`` (the Neon pooler's limits), passed in by the stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import pulumi
import pulumi_aws as aws

from infra.build import Architecture, LambdaArtifact

COMPONENT_TYPE: Final = "ballast:function:FunctionRuntime"
HEALTH_HANDLER: Final = "runtime.handler.handle"
CORS_METHODS: Final = ("GET", "HEAD")
CORS_MAX_AGE_SECONDS: Final = 3600
LOG_FORMAT: Final = "JSON"
CODE_NOTE: Final = (
    "The health function's code is the Ballast layer (/opt/python/runtime); handler runtime.handler.handle.\n"
)
UrlAuthType = Literal["NONE", "AWS_IAM"]


@dataclass(frozen=True)
class FunctionRuntimeArgs:
    """Per-stage settings of the layer and the health function.

    ``environment`` is every variable the function gets, credentials as secret Outputs (they stay secret
    in state and in every preview).
    """

    stage: str
    layer: LambdaArtifact
    architecture: Architecture
    lambda_runtime: str
    memory_mb: int
    timeout_seconds: int
    log_retention_days: int
    reserved_concurrency: int
    environment: Mapping[str, pulumi.Input[str]]
    url_auth_type: UrlAuthType = "NONE"
    cors_origins: Sequence[str] = ()
    kms_key_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def function_name(self) -> str:
        return f"ballast-{self.stage}-health"

    @property
    def layer_name(self) -> str:
        return f"ballast-{self.stage}-runtime"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"


def assume_role_policy() -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def log_policy(log_group_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """What AWSLambdaBasicExecutionRole grants, scoped to the function's own log group."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WriteOwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [pulumi.Output.concat(log_group_arn, ":*")],
                }
            ],
        }
    )


class FunctionRuntime(pulumi.ComponentResource):
    """``ballast:function:FunctionRuntime``; outputs ``function_name``, ``function_arn``, ``function_url``,
    ``layer_arn`` (the versioned ARN team functions add), ``role_arn`` and ``log_group_name``.

    Children: ``log_group``, ``role``, ``role_policy``, ``layer``, ``function``, ``url``, ``url_permissions``.
    """

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    function_url: pulumi.Output[str]
    layer_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: FunctionRuntimeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {"ballast:stage": args.stage, **args.tags}

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=args.log_group_name,
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy(),
            description=f"Ballast {args.stage}: the health function (own log group only)",
            tags=tags,
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-logs-policy", role=self.role.id, policy=log_policy(self.log_group.arn), opts=child
        )
        self.layer = aws.lambda_.LayerVersion(
            f"{name}-layer",
            layer_name=args.layer_name,
            code=args.layer.archive(),
            source_code_hash=args.layer.sha256_base64,
            compatible_runtimes=[args.lambda_runtime],
            compatible_architectures=[args.architecture],
            description=f"Ballast runtime + dependencies ({args.layer.release})",
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-health",
            name=args.function_name,
            role=self.role.arn,
            runtime=args.lambda_runtime,
            handler=HEALTH_HANDLER,
            architectures=[args.architecture],
            code=pulumi.AssetArchive({"BALLAST_FUNCTION.txt": pulumi.StringAsset(CODE_NOTE)}),
            layers=[self.layer.arn],
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment)),
            kms_key_arn=args.kms_key_arn,
            # JSON: the runtime's invocation lines (runtime/logs.py) feed infra/alarms.py's metric filters.
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format=LOG_FORMAT, log_group=self.log_group.name
            ),
            tags=tags,
            # The log group exists (with retention) before the first invocation could create its own, and
            # the role can write to it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.role_policy]),
        )
        cors = (
            aws.lambda_.FunctionUrlCorsArgs(
                allow_origins=list(args.cors_origins),
                allow_methods=list(CORS_METHODS),
                max_age=CORS_MAX_AGE_SECONDS,
            )
            if args.cors_origins
            else None
        )
        self.url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=self.function.name,
            authorization_type=args.url_auth_type,
            cors=cors,
            opts=child,
        )
        self.url_permissions = (
            self._public_url_permissions(name, args) if args.url_auth_type == "NONE" else []
        )

        self.function_name = self.function.name
        self.function_arn = self.function.arn
        self.function_url = self.url.function_url
        self.layer_arn = self.layer.arn
        self.role_arn = self.role.arn
        self.log_group_name = self.log_group.name
        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "function_url": self.function_url,
                "layer_arn": self.layer_arn,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
            }
        )

    def _public_url_permissions(self, name: str, args: FunctionRuntimeArgs) -> list[aws.lambda_.Permission]:
        """Auth type NONE still needs the resource policy to allow the public: both actions since 2025-10,
        the second limited to invocations through the URL."""
        child = pulumi.ResourceOptions(parent=self)
        return [
            aws.lambda_.Permission(
                f"{name}-url-public",
                action="lambda:InvokeFunctionUrl",
                function=self.function.name,
                principal="*",
                function_url_auth_type="NONE",
                opts=child,
            ),
            aws.lambda_.Permission(
                f"{name}-url-invoke",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="*",
                invoked_via_function_url=True,
                opts=child,
            ),
        ]
