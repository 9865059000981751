"""``HttpApi``: the stage's one HTTPS entry — an API Gateway HTTP API routing ``METHOD /path`` to functions.

Why an HTTP API (not a function URL per function, not a REST API): one URL per stage for every route,
method + path routing with path parameters, CORS answered by the gateway (preflights never reach a
function), per-route throttling in the stage's ``route_settings``, and Lambda proxy integrations with the
same payload format 2.0 a function URL sends, so ``@lambda_handler`` and Powertools'
``APIGatewayHttpResolver`` read the same event. It is cheaper and lower-latency than a REST API, whose extras
(usage plans, request validation, caching) Ballast does not use.

- **Api** ``ballast-<stage>`` (protocol HTTP), CORS from the stage's origins (none: no CORS headers).
- **Stage** ``$default``, auto-deployed, with each throttled route's rate and burst, and access logs to its
  own log group with the stage's retention.
- Per function: one **Integration** (``AWS_PROXY``, payload 2.0) and a **Permission** letting only this
  API invoke it; per route a **Route** (``AWS_IAM`` auth when the stage asks for signed callers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import pulumi
import pulumi_aws as aws

from infra.function import Function
from infra.functionspec import RouteSpec

COMPONENT_TYPE: Final = "ballast:api:HttpApi"
CORS_HEADERS: Final = ("content-type", "authorization", "x-request-id")
CORS_EXPOSE_HEADERS: Final = ("x-request-id",)
CORS_MAX_AGE_SECONDS: Final = 3600
ACCESS_LOG_FORMAT: Final = (
    '{"requestId":"$context.requestId","routeKey":"$context.routeKey","status":"$context.status",'
    '"latencyMs":"$context.responseLatency","integrationError":"$context.integrationErrorMessage",'
    '"ip":"$context.identity.sourceIp"}'
)  # no query strings, headers or bodies: they may hold personal data
AuthType = Literal["NONE", "AWS_IAM"]


@dataclass(frozen=True)
class ApiFunction:
    """A function and the routes it serves."""

    name: str
    function: Function
    routes: Sequence[RouteSpec]


@dataclass(frozen=True)
class HttpApiArgs:
    stage: str
    functions: Sequence[ApiFunction]
    log_retention_days: int
    cors_origins: Sequence[str] = ()
    auth_type: AuthType = "NONE"
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_name(self) -> str:
        return f"ballast-{self.stage}"

    def cors_methods(self) -> list[str]:
        methods = {route.method for f in self.functions for route in f.routes}
        return ["*"] if "ANY" in methods else sorted(methods)


class HttpApi(pulumi.ComponentResource):
    """``ballast:api:HttpApi``; outputs ``url`` (``https://…/``, no trailing path), ``api_id``,
    ``execution_arn`` and ``route_keys``."""

    url: pulumi.Output[str]
    api_id: pulumi.Output[str]
    execution_arn: pulumi.Output[str]

    def __init__(self, name: str, args: HttpApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {"ballast:stage": args.stage, **args.tags}
        cors = (
            aws.apigatewayv2.ApiCorsConfigurationArgs(
                allow_origins=list(args.cors_origins),
                allow_methods=args.cors_methods(),
                allow_headers=list(CORS_HEADERS),
                expose_headers=list(CORS_EXPOSE_HEADERS),
                max_age=CORS_MAX_AGE_SECONDS,
            )
            if args.cors_origins
            else None
        )
        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=args.api_name,
            protocol_type="HTTP",
            description=f"Ballast {args.stage}: the stage's HTTPS entry",
            cors_configuration=cors,
            tags=tags,
            opts=child,
        )
        self.integrations: dict[str, aws.apigatewayv2.Integration] = {}
        self.permissions: dict[str, aws.lambda_.Permission] = {}
        self.routes: dict[str, aws.apigatewayv2.Route] = {}
        for entry in args.functions:
            if entry.routes:
                self._integrate(name, args, entry)

        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{args.api_name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=child,
        )
        throttled = [route for entry in args.functions for route in entry.routes if route.throttled]
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=self.access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            route_settings=[
                aws.apigatewayv2.StageRouteSettingArgs(
                    route_key=route.key,
                    throttling_rate_limit=route.rate_limit,
                    throttling_burst_limit=route.burst_limit,
                )
                for route in throttled
            ],
            tags=tags,
            # route_settings may only name routes that exist
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.routes.values())),
        )

        self.url = self.api.api_endpoint
        self.api_id = self.api.id
        self.execution_arn = self.api.execution_arn
        self.route_keys = sorted(self.routes)
        self.register_outputs(
            {
                "url": self.url,
                "api_id": self.api_id,
                "execution_arn": self.execution_arn,
                "route_keys": self.route_keys,
            }
        )

    def _integrate(self, name: str, args: HttpApiArgs, entry: ApiFunction) -> None:
        child = pulumi.ResourceOptions(parent=self)
        integration = aws.apigatewayv2.Integration(
            f"{name}-{entry.name}-integration",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_uri=entry.function.invoke_arn,
            integration_method="POST",
            payload_format_version="2.0",
            opts=child,
        )
        self.integrations[entry.name] = integration
        self.permissions[entry.name] = aws.lambda_.Permission(
            f"{name}-{entry.name}-invoke",
            action="lambda:InvokeFunction",
            function=entry.function.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(self.api.execution_arn, "/*/*"),  # this API only
            opts=child,
        )
        for route in entry.routes:
            slug = (
                route.key.replace(" ", "")
                .replace("/", "-")
                .replace("{", "")
                .replace("+}", "-all")
                .replace("}", "")
            )
            self.routes[route.key] = aws.apigatewayv2.Route(
                f"{name}-route-{slug.lower().strip('-')}",
                api_id=self.api.id,
                route_key=route.key,
                target=pulumi.Output.concat("integrations/", integration.id),
                authorization_type=args.auth_type,
                opts=child,
            )
