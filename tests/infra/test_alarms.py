"""The stage's alarms under Pulumi's mocks: what each profile gets, thresholds from config, subscribers
(secret when set so), alarm names and descriptions, and the metric filters against the runtime's lines."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.alarms import (
    ANSWERS_5XX_PATTERN,
    DATABASE_UNAVAILABLE_PATTERN,
    AlarmThresholds,
    concurrency_threshold,
    duration_threshold_ms,
)
from infra.config import ConfigError, load_stage_config
from runtime import logs
from tests.infra.program_harness import ProgramRun, Registration, run_program, secret_paths, unwrapped

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
METRIC_FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
SENTRY_MONITOR = "pulumi-python:dynamic/sentry:MetricMonitor"
SENTRY_ALERT = "pulumi-python:dynamic/sentry:Alert"
WEBHOOK = "https://hooks.example.com/services/T000/B000/s3cr3tt0ken"
FUNCTIONS = ("health", "items", "stats", "cleanup")  # Pulumi.yaml's ballast:functions (the example app)


def alarms_by_name(run: ProgramRun) -> dict[str, dict[str, Any]]:
    found = {unwrapped(r.inputs["name"]): unwrapped(dict(r.inputs)) for r in run.of_type(ALARM)}
    assert found, "no alarm declared"
    return found


def test_production_alarms_carry_the_production_thresholds_and_say_what_to_do() -> None:
    run = run_program("production")
    alarms = alarms_by_name(run)
    fn = "ballast-production-health"
    api = "ballast-production-api"
    per_function = (
        "errors",
        "throttles",
        "duration-near-timeout",
        "concurrency-near-limit",
        "answers-5xx",
        "database-unavailable",
    )
    functions = [f"ballast-production-{name}" for name in FUNCTIONS]
    assert sorted(alarms) == sorted(
        [f"{f}-{what}" for f in functions for what in per_function]
        + [f"{api}-5xx-rate", f"{api}-latency-p95"]  # the stage's one HTTP entry
    )
    topic_arn = "arn:aws:sns:eu-central-1:123456789012:ballast-production-alarms"
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [topic_arn]
        assert alarm["okActions"] == [topic_arn]
        assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (5, 3)
        assert alarm["treatMissingData"] == "notBreaching"
        assert re.search(r"\. (Look|Check|Find|Read|Compare|Roll)", alarm["alarmDescription"]), alarm["name"]
    duration = alarms[f"{fn}-duration-near-timeout"]
    assert (duration["metricName"], duration["statistic"], duration["threshold"]) == (
        "Duration",
        "Maximum",
        12000,
    )
    concurrency = alarms[f"{fn}-concurrency-near-limit"]
    assert concurrency["threshold"] == 7  # ceil(8 reserved x 80 %): health's part of the budget
    assert alarms["ballast-production-items-concurrency-near-limit"]["threshold"] == 20  # ceil(25 x 80 %)
    assert alarms["ballast-production-cleanup-duration-near-timeout"]["threshold"] == 48000  # 80 % of 60 s
    rate = alarms[f"{api}-5xx-rate"]
    assert rate["threshold"] == 5
    metrics = {q["id"]: q.get("metric", {}).get("metricName") for q in rate["metricQueries"]}
    assert metrics == {"errors": "5xx", "requests": "Count", "rate": None}
    latency = alarms[f"{api}-latency-p95"]
    assert (latency["extendedStatistic"], latency["threshold"]) == ("p95", 2000)
    assert latency["namespace"] == "AWS/ApiGateway"
    assert latency["dimensions"]["Stage"] == "$default"

    (subscription,) = run.of_type(SUBSCRIPTION)
    assert unwrapped(subscription.inputs["protocol"]) == "email"
    assert unwrapped(subscription.inputs["endpoint"]) == "oncall@example.com"
    assert len(run.of_type(SENTRY_MONITOR)) == 1
    assert len(run.of_type(SENTRY_ALERT)) == 2


def test_staging_is_lighter_and_previews_have_nothing_unless_asked() -> None:
    staging = alarms_by_name(run_program("staging"))
    errors = staging["ballast-staging-health-errors"]
    assert (errors["period"], errors["evaluationPeriods"], errors["threshold"]) == (300, 3, 5)
    assert run_program("staging").of_type(SUBSCRIPTION) == []

    preview = run_program("pr-7")
    kinds = {r.type for r in preview.monitor.registrations}
    assert not kinds & {ALARM, METRIC_FILTER, TOPIC, SUBSCRIPTION, SENTRY_MONITOR, SENTRY_ALERT}
    assert len(preview.monitor.registrations) > 10  # the rest of the stage is there

    asked = run_program("pr-7", overrides={"ballast:alarmsEnabled": "true"})
    assert len(asked.of_type(ALARM)) == 6 * len(FUNCTIONS) + 2
    assert asked.of_type(SENTRY_ALERT) == []  # Sentry alerts are a separate switch


def test_thresholds_are_overridable_field_by_field() -> None:
    run = run_program(
        "production",
        overrides={"ballast:alarmThresholds": json.dumps({"http5xxPercent": 1.5, "periodSeconds": 120})},
    )
    alarms = alarms_by_name(run)
    assert alarms["ballast-production-api-5xx-rate"]["threshold"] == 1.5
    assert alarms["ballast-production-health-errors"]["period"] == 120
    assert alarms["ballast-production-health-errors"]["evaluationPeriods"] == 5  # the profile's, kept


def test_a_secret_webhook_subscriber_stays_secret() -> None:
    run = run_program(
        "staging",
        secrets={"ballast:alarmSubscribers": json.dumps(["dev@example.com", WEBHOOK])},
    )
    subscriptions: list[Registration] = run.of_type(SUBSCRIPTION)
    assert sorted(unwrapped(s.inputs["protocol"]) for s in subscriptions) == ["email", "https"]
    for subscription in subscriptions:
        assert "endpoint" in set(secret_paths(subscription.inputs))
        assert WEBHOOK not in subscription.name


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"alarmSubscribers": '["not-an-address"]'}, "alarmSubscribers: entries [0] are neither"),
        ({"alarmSubscribers": '["http://hooks.example.com/x"]'}, "alarmSubscribers: entries [0]"),
        ({"alarmSubscribers": '["a@example.com", "a@example.com"]'}, "lists an endpoint twice"),
        ({"alarmThresholds": '{"periodSeconds": 90}'}, "alarmThresholds.periodSeconds"),
        ({"alarmThresholds": '{"datapointsToAlarm": 9}'}, "datapointsToAlarm cannot exceed"),
        ({"alarmThresholds": '{"sentryErrorWindowMinutes": 7}'}, "sentryErrorWindowMinutes must be one of"),
        ({"alarmThresholds": '{"http5xxPercent": 0}'}, "alarmThresholds.http5xxPercent"),
        ({"alarmThresholds": '{"functionErorrs": 2}'}, "alarmThresholds.functionErorrs"),
        ({"alarmsEnabled": "maybe"}, "alarmsEnabled"),
    ],
)
def test_bad_alerting_settings_name_their_key_and_never_the_value(
    overrides: dict[str, str], fragment: str
) -> None:
    raw = {"sentryOrganization": "org", "sentryTeam": "team", **overrides}
    with pytest.raises(ConfigError) as caught:
        load_stage_config("production", raw)
    text = "; ".join(caught.value.problems)
    assert fragment in text
    assert "not-an-address" not in text
    assert "hooks.example.com" not in text


def test_metric_filters_match_the_runtimes_own_lines() -> None:
    """The patterns use the runtime's field names; check them against real lines with a tiny evaluator of
    the two pattern forms they use (``$.f = "s"``, ``$.f >= n``, ``$.f = n`` joined by ``&&``)."""

    def matches(pattern: str, line: dict[str, Any]) -> bool:
        terms = pattern.strip("{} ").split(" && ")
        for term in terms:
            field, op, value = re.fullmatch(r"\$\.(\w+) (>=|=) (.+)", term).groups()  # type: ignore[union-attr]
            expected = json.loads(value)
            actual = line.get(field)
            if op == "=" and actual != expected:
                return False
            if op == ">=" and not (isinstance(actual, int) and actual >= expected):
                return False
        return True

    def line(status: int) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(
            logs.invocation_line({}, {"statusCode": status}, request_id="r", duration_ms=1)
        )
        return decoded

    assert [matches(ANSWERS_5XX_PATTERN, line(s)) for s in (200, 404, 500, 503)] == [False, False, True, True]
    assert [matches(DATABASE_UNAVAILABLE_PATTERN, line(s)) for s in (200, 500, 503)] == [False, False, True]
    assert not matches(ANSWERS_5XX_PATTERN, {"status": 500})  # only invocation lines count


def test_threshold_arithmetic() -> None:
    assert duration_threshold_ms(15, 80) == 12000
    assert duration_threshold_ms(10, 90) == 9000
    assert concurrency_threshold(47, 80) == 38
    assert concurrency_threshold(1, 80) == 1
    assert concurrency_threshold(23, 100) == 23
    assert AlarmThresholds.model_fields["answers_5xx"].alias == "answers5xx"
