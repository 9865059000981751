"""``Alarms``: one stage's CloudWatch alarms, the log metric filters they read, and the SNS topic they notify.

What a stage with ``ballast:alarmsEnabled`` gets (production and staging by default, previews only when set):

- **Topic** ``ballast-<stage>-alarms`` with one subscription per ``ballast:alarmSubscribers`` entry (an
  e-mail address, or an ``https://`` endpoint such as a chat webhook). Every alarm notifies it when it fires
  and when it recovers.
- **Per function** (a loop over :attr:`AlarmsArgs.functions`): Lambda ``Errors`` (crashes, timeouts, failed
  inits: the decorator answers handled errors itself), ``Throttles``, ``Duration`` (maximum) near the
  function's timeout, ``ConcurrentExecutions`` (maximum) near its reserved concurrency; and from the
  runtime's JSON invocation lines (``runtime/logs.py``) two metric filters with an alarm each: 5xx answers
  and database-unavailable (503) answers.
- **Per HTTP entry** (a loop over :attr:`AlarmsArgs.entries`: the function URL now, an API Gateway HTTP API
  stage when there is one): the 5xx rate (metric math, per cent of requests) and p95 latency.

Thresholds and windows are :class:`AlarmThresholds` (per-profile defaults in ``infra/config.py``, any field
overridable with ``ballast:alarmThresholds``). Every alarm evaluates ``evaluationPeriods`` periods of
``periodSeconds`` and fires when ``datapointsToAlarm`` of them breach; missing data (no traffic) is not
breaching. Names say what and where (``ballast-production-health-errors``); descriptions say what to do.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, Self

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from runtime import logs

COMPONENT_TYPE: Final = "ballast:alarms:Alarms"
LOG_METRIC_NAMESPACE: Final = "Ballast"
LAMBDA_NAMESPACE: Final = "AWS/Lambda"
API_GATEWAY_NAMESPACE: Final = "AWS/ApiGateway"
# SNS protocols a subscriber may use: https for webhooks, email for people.
SubscriberProtocol = Literal["email", "https"]
# CloudWatch takes periods of 10, 20, 30 or any multiple of 60 seconds; Ballast uses whole minutes.
PERIOD_STEP_SECONDS: Final = 60
MAX_EVALUATION_SECONDS: Final = 86400  # CloudWatch: periods x seconds at most one day
# Sentry metric monitors accept these time windows (minutes).
SENTRY_WINDOWS_MINUTES: Final = (1, 5, 10, 15, 30, 60, 120, 240, 1440)

# The metric filter patterns, built from the runtime's own field names.
_INVOCATION: Final = f'$.{logs.TYPE_FIELD} = "{logs.LINE_TYPE}"'
ANSWERS_5XX_PATTERN: Final = f"{{ {_INVOCATION} && $.{logs.STATUS_FIELD} >= 500 }}"
DATABASE_UNAVAILABLE_PATTERN: Final = (
    f"{{ {_INVOCATION} && $.{logs.STATUS_FIELD} = {logs.DATABASE_UNAVAILABLE_STATUS} }}"
)

Percent = Annotated[float, Field(gt=0, le=100)]
Count = Annotated[int, Field(ge=1)]


class AlarmThresholds(BaseModel):
    """Thresholds and windows of a stage's alarms (config key ``ballast:alarmThresholds.<camelCaseName>``).

    - ``period_seconds`` (a multiple of 60), ``evaluation_periods``, ``datapoints_to_alarm``: every
      CloudWatch alarm fires when ``datapoints_to_alarm`` of the last ``evaluation_periods`` periods breach.
    - ``function_errors``, ``function_throttles``: Lambda errors / throttles per period, at least.
    - ``duration_percent_of_timeout``: the slowest invocation of a period took at least this share of the
      function's timeout.
    - ``concurrency_percent_of_reserved``: concurrent executions reached this share of the reserved limit
      (beyond it requests are throttled, and the database budget is spent).
    - ``answers_5xx``, ``database_unavailable_answers``: 5xx / 503 answers per period (from the JSON logs).
    - ``http_5xx_percent``: the HTTP entry's share of 5xx answers per period, above; ``http_latency_p95_ms``:
      its p95 latency per period, above.
    - ``sentry_error_count`` errors in ``sentry_error_window_minutes`` (one of 1, 5, 10, 15, 30, 60, 120,
      240, 1440): Sentry's error-count monitor opens an issue above it.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    period_seconds: Annotated[int, Field(ge=60, le=86400, multiple_of=PERIOD_STEP_SECONDS)]
    evaluation_periods: Count
    datapoints_to_alarm: Count
    function_errors: Count
    function_throttles: Count
    duration_percent_of_timeout: Percent
    concurrency_percent_of_reserved: Percent
    answers_5xx: Annotated[int, Field(ge=1, alias="answers5xx")]  # to_camel would say answers5Xx
    database_unavailable_answers: Count
    http_5xx_percent: Annotated[float, Field(gt=0, le=100, alias="http5xxPercent")]
    http_latency_p95_ms: Count
    sentry_error_count: Count
    sentry_error_window_minutes: int

    @model_validator(mode="after")
    def _windows(self) -> Self:
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError("datapointsToAlarm cannot exceed evaluationPeriods")
        if self.period_seconds * self.evaluation_periods > MAX_EVALUATION_SECONDS:
            raise ValueError("periodSeconds x evaluationPeriods must be at most one day (86400 s)")
        if self.sentry_error_window_minutes not in SENTRY_WINDOWS_MINUTES:
            allowed = ", ".join(map(str, SENTRY_WINDOWS_MINUTES))
            raise ValueError(f"sentryErrorWindowMinutes must be one of {allowed}")
        return self

    @property
    def window_text(self) -> str:
        return f"{self.datapoints_to_alarm} of {self.evaluation_periods} periods of {self.period_seconds} s"


@dataclass(frozen=True)
class Subscriber:
    """One SNS subscription: ``endpoint`` is secret when the config value was set with ``--secret``.

    ``key`` names the Pulumi resource: a digest of the endpoint, so reordering the list replaces nothing.
    """

    protocol: SubscriberProtocol
    endpoint: pulumi.Input[str]
    key: str

    @staticmethod
    def parse(value: str, *, secret: bool = False) -> Subscriber:
        protocol: SubscriberProtocol = "https" if value.startswith("https://") else "email"
        key = hashlib.sha256(value.encode()).hexdigest()[:8]
        return Subscriber(protocol, pulumi.Output.secret(value) if secret else value, key)


@dataclass(frozen=True)
class AlarmedFunction:
    """A Lambda function to watch: its name, timeout, reserved concurrency and log group."""

    name: str
    timeout_seconds: int
    reserved_concurrency: int
    log_group_name: pulumi.Input[str]


@dataclass(frozen=True)
class HttpEntry:
    """An HTTP entry to watch: where its request, 5xx and latency metrics live."""

    label: str  # part of the alarm names, e.g. "health-url" or "api"
    namespace: str
    dimensions: Mapping[str, pulumi.Input[str]]
    requests_metric: str
    errors_metric: str
    latency_metric: str

    @staticmethod
    def function_url(function_name: str, label: str = "url") -> HttpEntry:
        """A Lambda function URL (AWS/Lambda ``UrlRequestCount``, ``Url5xxCount``, ``UrlRequestLatency``)."""
        return HttpEntry(
            label=f"{function_name}-{label}",
            namespace=LAMBDA_NAMESPACE,
            dimensions={"FunctionName": function_name},
            requests_metric="UrlRequestCount",
            errors_metric="Url5xxCount",
            latency_metric="UrlRequestLatency",
        )

    @staticmethod
    def http_api(api_id: pulumi.Input[str], stage: pulumi.Input[str], label: str) -> HttpEntry:
        """An API Gateway HTTP API stage (``AWS/ApiGateway`` ``Count``, ``5xx``, ``Latency``)."""
        return HttpEntry(
            label=label,
            namespace=API_GATEWAY_NAMESPACE,
            dimensions={"ApiId": api_id, "Stage": stage},
            requests_metric="Count",
            errors_metric="5xx",
            latency_metric="Latency",
        )


@dataclass(frozen=True)
class AlarmsArgs:
    stage: str
    thresholds: AlarmThresholds
    subscribers: Sequence[Subscriber] = ()
    functions: Sequence[AlarmedFunction] = ()
    entries: Sequence[HttpEntry] = ()
    sentry_project: str | None = None  # named in descriptions: where to look first
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def topic_name(self) -> str:
        return f"ballast-{self.stage}-alarms"


def duration_threshold_ms(timeout_seconds: int, percent: float) -> float:
    return round(timeout_seconds * 1000 * percent / 100, 1)


def concurrency_threshold(reserved: int, percent: float) -> int:
    """Concurrent executions that count as "near the limit": at least 1, at most the limit."""
    return min(reserved, max(1, math.ceil(reserved * percent / 100)))


class Alarms(pulumi.ComponentResource):
    """``ballast:alarms:Alarms``; outputs ``topic_arn`` and ``alarm_names``.

    Children: ``topic``, ``subscriptions``, ``metric_filters``, ``alarms`` (by alarm name).
    """

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = {"ballast:stage": args.stage, **args.tags}
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=args.topic_name,
            display_name=f"Ballast {args.stage} alarms",
            tags=self._tags,
            opts=self._child,
        )
        self.subscriptions = [
            aws.sns.TopicSubscription(
                f"{name}-subscriber-{subscriber.key}",
                topic=self.topic.arn,
                protocol=subscriber.protocol,
                endpoint=subscriber.endpoint,
                opts=self._child,
            )
            for subscriber in args.subscribers
        ]
        self.metric_filters: list[aws.cloudwatch.LogMetricFilter] = []
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for function in args.functions:
            self._function_alarms(function)
        for entry in args.entries:
            self._entry_alarms(entry)

        self.topic_arn = self.topic.arn
        self.alarm_names = sorted(self.alarms)
        self.register_outputs({"topic_arn": self.topic_arn, "alarm_names": self.alarm_names})

    # Building blocks ------------------------------------------------------------------------------------

    def _alarm(self, alarm_name: str, description: str, **settings: Any) -> None:
        t = self._args.thresholds
        self.alarms[alarm_name] = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{alarm_name.removeprefix(f'ballast-{self._args.stage}-')}",
            name=alarm_name,
            alarm_description=description,
            evaluation_periods=t.evaluation_periods,
            datapoints_to_alarm=t.datapoints_to_alarm,
            treat_missing_data="notBreaching",  # no traffic is not an outage (the uptime check covers that)
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            tags=self._tags,
            opts=self._child,
            **settings,
        )

    def _look(self, function: str) -> str:
        project = self._args.sentry_project
        where = f"Sentry project {project} (search the errorId)" if project else "Sentry"
        return f"Look in {where} and the log group /aws/lambda/{function} (Logs Insights)"

    def _function_alarms(self, function: AlarmedFunction) -> None:
        t = self._args.thresholds
        fn = function.name
        period = t.period_seconds
        window = t.window_text
        lambda_metric = {
            "namespace": LAMBDA_NAMESPACE,
            "dimensions": {"FunctionName": fn},
            "period": period,
        }
        self._alarm(
            f"{fn}-errors",
            f"{fn}: at least {t.function_errors} Lambda errors (crash, timeout or failed init) per period "
            f"in {window}. {self._look(fn)}; a failed init lists its settings problems. Roll back the last "
            "deploy if it started then.",
            metric_name="Errors",
            statistic="Sum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=t.function_errors,
            **lambda_metric,
        )
        self._alarm(
            f"{fn}-throttles",
            f"{fn}: at least {t.function_throttles} throttled invocations per period in {window}: the "
            f"function is at its reserved concurrency ({function.reserved_concurrency}). Find what floods "
            "it; raise ballast:computeMinCu or ballast:poolerShare only if the database can take more "
            "connections.",
            metric_name="Throttles",
            statistic="Sum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=t.function_throttles,
            **lambda_metric,
        )
        duration_ms = duration_threshold_ms(function.timeout_seconds, t.duration_percent_of_timeout)
        self._alarm(
            f"{fn}-duration-near-timeout",
            f"{fn}: an invocation took at least {duration_ms:g} ms "
            f"({t.duration_percent_of_timeout:g}% of its {function.timeout_seconds} s timeout) in {window}. "
            "Check the database latency on /api/health "
            "and slow queries; raise ballast:lambdaTimeoutSeconds only if the work is legitimately slow.",
            metric_name="Duration",
            statistic="Maximum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=duration_ms,
            **lambda_metric,
        )
        concurrency = concurrency_threshold(function.reserved_concurrency, t.concurrency_percent_of_reserved)
        self._alarm(
            f"{fn}-concurrency-near-limit",
            f"{fn}: at least {concurrency} concurrent executions "
            f"({t.concurrency_percent_of_reserved:g}% of the reserved {function.reserved_concurrency}) in "
            f"{window}; throttling starts at the limit. Check the traffic source, "
            "then the pooler budget (README: why the database cannot be overrun).",
            metric_name="ConcurrentExecutions",
            statistic="Maximum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=concurrency,
            **lambda_metric,
        )
        self._log_alarm(
            function,
            "answers-5xx",
            ANSWERS_5XX_PATTERN,
            t.answers_5xx,
            f"{fn}: at least {t.answers_5xx} 5xx answers per period in {window} (from its JSON invocation "
            f"lines). {self._look(fn)} for the errorId of the answers.",
        )
        self._log_alarm(
            function,
            "database-unavailable",
            DATABASE_UNAVAILABLE_PATTERN,
            t.database_unavailable_answers,
            f"{fn}: at least {t.database_unavailable_answers} database-unavailable (503) answers per "
            f"period in {window}. Check the Neon endpoint (suspended, over its connection limit, or "
            "down) and GET /api/health; the pool waits DB_POOL_TIMEOUT_SECONDS before answering 503.",
        )

    def _log_alarm(
        self, function: AlarmedFunction, what: str, pattern: str, threshold: int, description: str
    ) -> None:
        metric_name = f"{function.name}-{what}"
        self.metric_filters.append(
            aws.cloudwatch.LogMetricFilter(
                f"{self._name}-{function.name.removeprefix(f'ballast-{self._args.stage}-')}-{what}",
                name=metric_name,
                log_group_name=function.log_group_name,
                pattern=pattern,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=metric_name, namespace=LOG_METRIC_NAMESPACE, value="1", unit="Count"
                ),
                opts=self._child,
            )
        )
        self._alarm(
            metric_name,
            description,
            namespace=LOG_METRIC_NAMESPACE,
            metric_name=metric_name,
            statistic="Sum",
            period=self._args.thresholds.period_seconds,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=threshold,
        )

    def _entry_alarms(self, entry: HttpEntry) -> None:
        t = self._args.thresholds
        period = t.period_seconds
        window = t.window_text

        def query(query_id: str, metric_name: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=entry.namespace,
                    metric_name=metric_name,
                    dimensions=dict(entry.dimensions),
                    period=period,
                    stat="Sum",
                ),
                return_data=False,
            )

        self._alarm(
            f"{entry.label}-5xx-rate",
            f"{entry.label}: more than {t.http_5xx_percent:g}% of requests answered 5xx per period in "
            f"{window}. Read the functions' 5xx-answer and database-unavailable alarms to see which; "
            "roll back the last deploy if it started then.",
            comparison_operator="GreaterThanThreshold",
            threshold=t.http_5xx_percent,
            metric_queries=[
                query("errors", entry.errors_metric),
                query("requests", entry.requests_metric),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression="IF(requests > 0, 100 * errors / requests, 0)",
                    label="5xx answers (% of requests)",
                    return_data=True,
                ),
            ],
        )
        self._alarm(
            f"{entry.label}-latency-p95",
            f"{entry.label}: p95 latency above {t.http_latency_p95_ms} ms per period in {window}. Compare "
            "the database latency on /api/health, cold starts (Init Duration in the logs) and the duration "
            "alarms.",
            namespace=entry.namespace,
            metric_name=entry.latency_metric,
            dimensions=dict(entry.dimensions),
            extended_statistic="p95",
            period=period,
            comparison_operator="GreaterThanThreshold",
            threshold=t.http_latency_p95_ms,
        )
