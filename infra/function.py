"""The stage's Lambda layer (``RuntimeLayer``) and one hardened function per declared one (``Function``).

- **Layer** ``ballast-<stage>-runtime``: ``infra.build``'s reproducible zip of ``runtime/`` + dependencies;
  every function adds it and imports ``runtime`` from ``/opt/python``. ``source_code_hash`` is the zip's
  sha256, so an unchanged tree never publishes a new version.
- **Function** ``ballast-<stage>-<name>``: the team's code (``infra.build.build_code``: its own zip, hashed
  the same way) or, for a handler of the layer itself (the health check), a one-line note. Memory, timeout
  and architecture come from the stage unless the function sets its own.
- **Log group** ``/aws/lambda/<function>`` with the stage's retention, created before the function and
  named in its ``logging_config`` (otherwise Lambda creates one that never expires).
- **Role** per function: trust ``lambda.amazonaws.com``; may only create streams in and write to its own
  log group. No Secrets Manager grant: credentials arrive as environment variables (encrypted at rest with
  KMS; README "Secrets"), so it needs none.
- **Reserved concurrency**: the function's part of the stage's database budget (``infra.concurrency``).
- **Schedule** (optional): an EventBridge rule invoking the function, allowed by a permission scoped to
  that rule.
HTTP routes are the stage's API's business (``infra.api``), which gets each function's ARN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import pulumi
import pulumi_aws as aws

from infra.build import Architecture, LambdaArtifact

LAYER_TYPE: Final = "ballast:function:RuntimeLayer"
FUNCTION_TYPE: Final = "ballast:function:Function"
CODE_NOTE: Final = "This function's code is the Ballast layer (/opt/python/runtime); see its handler.\n"
LOG_FORMAT: Final = "JSON"  # the runtime logs JSON lines; infra/alarms.py filters them


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


@dataclass(frozen=True)
class RuntimeLayerArgs:
    stage: str
    layer: LambdaArtifact
    architecture: Architecture
    lambda_runtime: str

    @property
    def layer_name(self) -> str:
        return f"ballast-{self.stage}-runtime"


class RuntimeLayer(pulumi.ComponentResource):
    """``ballast:function:RuntimeLayer``; output ``arn`` (the versioned ARN every function adds)."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: RuntimeLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(LAYER_TYPE, name, None, opts)
        self.layer = aws.lambda_.LayerVersion(
            f"{name}-layer",
            layer_name=args.layer_name,
            code=args.layer.archive(),
            source_code_hash=args.layer.sha256_base64,
            compatible_runtimes=[args.lambda_runtime],
            compatible_architectures=[args.architecture],
            description=f"Ballast runtime + dependencies ({args.layer.release})",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.layer.arn
        self.register_outputs({"arn": self.arn})


@dataclass(frozen=True)
class FunctionArgs:
    """One function's settings. ``code`` None: the handler is in the layer (a note is its package).

    ``environment`` is every variable the function gets, credentials as secret Outputs (they stay secret
    in state and in every preview).
    """

    stage: str
    name: str
    handler: str
    code: LambdaArtifact | None
    layer_arn: pulumi.Input[str]
    architecture: Architecture
    lambda_runtime: str
    memory_mb: int
    timeout_seconds: int
    log_retention_days: int
    reserved_concurrency: int
    environment: Mapping[str, pulumi.Input[str]]
    schedule: str | None = None
    kms_key_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def function_name(self) -> str:
        return f"ballast-{self.stage}-{self.name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"


class Function(pulumi.ComponentResource):
    """``ballast:function:Function``; outputs ``function_name``, ``function_arn``, ``invoke_arn``,
    ``role_arn`` and ``log_group_name``.

    Children: ``log_group``, ``role``, ``role_policy``, ``function``, and with a schedule ``rule``,
    ``target``, ``rule_permission``.
    """

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    invoke_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(FUNCTION_TYPE, name, None, opts)
        self.args = args
        child = pulumi.ResourceOptions(parent=self)
        tags = {"ballast:stage": args.stage, "ballast:function": args.name, **args.tags}

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
            description=f"Ballast {args.stage}: function {args.name} (own log group only)",
            tags=tags,
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-logs-policy", role=self.role.id, policy=log_policy(self.log_group.arn), opts=child
        )
        code: pulumi.Archive = (
            args.code.archive()
            if args.code is not None
            else pulumi.AssetArchive({"BALLAST_FUNCTION.txt": pulumi.StringAsset(CODE_NOTE)})
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            role=self.role.arn,
            runtime=args.lambda_runtime,
            handler=args.handler,
            architectures=[args.architecture],
            code=code,
            source_code_hash=args.code.sha256_base64 if args.code is not None else None,
            layers=[args.layer_arn],
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
        if args.schedule:
            self._schedule(name, args, tags)

        self.function_name = self.function.name
        self.function_arn = self.function.arn
        self.invoke_arn = self.function.invoke_arn
        self.role_arn = self.role.arn
        self.log_group_name = self.log_group.name
        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "invoke_arn": self.invoke_arn,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
            }
        )

    def _schedule(self, name: str, args: FunctionArgs, tags: Mapping[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            name=f"{args.function_name}-schedule",
            schedule_expression=args.schedule,
            description=f"Ballast {args.stage}: runs {args.name} on {args.schedule}",
            tags=dict(tags),
            opts=child,
        )
        self.rule_permission = aws.lambda_.Permission(
            f"{name}-schedule-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,  # only this rule may invoke it
            opts=child,
        )
        self.target = aws.cloudwatch.EventTarget(
            f"{name}-schedule-target",
            rule=self.rule.name,
            arn=self.function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.rule_permission]),
        )
