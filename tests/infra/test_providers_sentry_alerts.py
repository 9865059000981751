"""The Sentry alerting providers (error-count monitor, alerts) against the fake Sentry, which checks every
request against the published provisioning and alerting specs; then the same providers driven through
Pulumi's own dynamic-provider host (``pulumi.dynamic.__main__``) the way the engine calls it: a preview with
unknown inputs, create, a no-op diff, update and delete."""

from __future__ import annotations

import asyncio
import base64
import json
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi.dynamic
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc

from infra.providers.credentials import SENTRY_AUTH_TOKEN
from infra.providers.http import ApiError
from infra.providers.sentry import SentryProjectProvider, SentryProvisioningError
from infra.providers.sentry_alerts import (
    MONITOR_ISSUE,
    NEW_ISSUE,
    SentryAlertProvider,
    SentryMetricMonitorProvider,
)
from tests.fixtures.config import configured
from tests.fixtures.fake_api import FAST_RETRY, Fault
from tests.fixtures.fake_sentry import TEST_AUTH_TOKEN, FakeSentry

PROJECT = "ballast-staging"


def make_project(sentry: FakeSentry) -> None:
    SentryProjectProvider(FAST_RETRY).create(
        {
            "organization": sentry.organization,
            "team": "backend",
            "project_slug": PROJECT,
            "project_name": "Ballast staging",
            "platform": "python-awslambda",
            "api_base_url": sentry.base_url,
        }
    )


def monitor_inputs(sentry: FakeSentry, **overrides: Any) -> dict[str, Any]:
    return {
        "organization": sentry.organization,
        "project_slug": PROJECT,
        "team": "backend",
        "name": "ballast-staging: over 25 errors in 15 min",
        "threshold": 25.0,  # the engine hands numbers over as floats
        "window_minutes": 15.0,
        "environment": "staging",
        "description": "Open the newest issues.",
        "api_base_url": sentry.base_url,
        **overrides,
    }


def alert_inputs(sentry: FakeSentry, **overrides: Any) -> dict[str, Any]:
    return {
        "organization": sentry.organization,
        "team": "backend",
        "name": "ballast-staging: new issue",
        "trigger": NEW_ISSUE,
        "frequency_minutes": 30.0,
        "project_slug": PROJECT,
        "monitor_ids": None,
        "environment": "staging",
        "api_base_url": sentry.base_url,
        **overrides,
    }


def last_body(sentry: FakeSentry, method: str, path_part: str) -> Any:
    return next(r.body for r in reversed(sentry.requests) if r.method == method and path_part in r.path)


def test_error_count_monitor_round_trip(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    provider = SentryMetricMonitorProvider(FAST_RETRY)
    checked = provider.check({}, monitor_inputs(fake_sentry))
    assert checked.failures == []
    created = provider.create(checked.inputs)
    outs = created.outs or {}
    stored = fake_sentry.detectors[created.id]
    assert stored["type"] == "metric_issue"
    assert stored["owner"] == f"team:{fake_sentry.team_ids['backend']}"
    (source,) = stored["data_sources"]
    assert (source["aggregate"], source["timeWindow"], source["environment"]) == ("count()", 900, "staging")
    assert [(c["type"], c["comparison"]) for c in stored["condition_group"]["conditions"]] == [
        ("gt", 25),
        ("lte", 25),
    ]
    assert outs["monitor_id"] == created.id

    assert provider.diff(created.id, outs, {**outs}).changes is False
    tighter = {**outs, "threshold": 10.0}
    diff = provider.diff(created.id, outs, tighter)
    assert (diff.changes, diff.replaces) == (True, [])
    assert provider.diff(created.id, outs, {**outs, "project_slug": "other"}).replaces == ["project_slug"]
    provider.update(created.id, outs, tighter)
    assert fake_sentry.detectors[created.id]["condition_group"]["conditions"][0]["comparison"] == 10
    assert provider.read(created.id, outs).id == created.id

    provider.delete(created.id, outs)
    assert created.id not in fake_sentry.detectors
    provider.delete(created.id, outs)  # 404: already gone, done
    assert provider.read(created.id, outs).id == ""
    assert fake_sentry.violations == []


def test_new_issue_and_error_count_alerts_email_the_stage_team(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    monitor = SentryMetricMonitorProvider(FAST_RETRY).create(monitor_inputs(fake_sentry))
    provider = SentryAlertProvider(FAST_RETRY)
    team_id = fake_sentry.team_ids["backend"]

    new_issue = provider.create(provider.check({}, alert_inputs(fake_sentry)).inputs)
    flow = fake_sentry.workflows[new_issue.id]
    issue_stream = next(i for i, d in fake_sentry.detectors.items() if d["type"] == "issue_stream")
    assert flow["detector_ids"] == [int(issue_stream)]
    assert flow["triggers"]["conditions"][0]["type"] == "first_seen_event"
    assert flow["environment"] == "staging"
    (action,) = flow["action_filters"][0]["actions"]
    assert (action["type"], action["config"]["targetType"], action["config"]["targetIdentifier"]) == (
        "email",
        "team",
        team_id,
    )

    inputs = alert_inputs(fake_sentry, name="errors", trigger=MONITOR_ISSUE, monitor_ids=[monitor.id])
    on_monitor = provider.create(provider.check({}, inputs).inputs)
    assert fake_sentry.workflows[on_monitor.id]["detector_ids"] == [int(monitor.id)]
    assert fake_sentry.workflows[on_monitor.id]["triggers"]["conditions"] == []

    outs = on_monitor.outs or {}
    renamed = {**outs, "name": "errors, renamed", "frequency_minutes": 60.0}
    assert provider.diff(on_monitor.id, outs, renamed).changes is True
    provider.update(on_monitor.id, outs, renamed)
    assert fake_sentry.workflows[on_monitor.id]["config"] == {"frequency": 60}
    provider.delete(on_monitor.id, renamed)
    provider.delete(new_issue.id, new_issue.outs or {})
    assert fake_sentry.workflows == {}
    assert fake_sentry.violations == []


@pytest.mark.parametrize(
    ("which", "overrides", "prop"),
    [
        ("monitor", {"window_minutes": 7.0}, "window_minutes"),
        ("monitor", {"threshold": 0.0}, "threshold"),
        ("monitor", {"team": ""}, "team"),
        ("monitor", {"name": "n" * 201}, "name"),
        ("alert", {"frequency_minutes": 2.0}, "frequency_minutes"),
        ("alert", {"trigger": "sometimes"}, "trigger"),
        ("alert", {"trigger": MONITOR_ISSUE, "monitor_ids": []}, "monitor_ids"),
    ],
)
def test_check_names_what_sentry_would_refuse(
    fake_sentry: FakeSentry, which: str, overrides: dict[str, Any], prop: str
) -> None:
    if which == "monitor":
        result = SentryMetricMonitorProvider(FAST_RETRY).check({}, monitor_inputs(fake_sentry, **overrides))
    else:
        result = SentryAlertProvider(FAST_RETRY).check({}, alert_inputs(fake_sentry, **overrides))
    assert prop in [f.property for f in result.failures]
    assert fake_sentry.requests == []


def test_an_unknown_team_or_a_project_without_issue_stream_fails_clearly(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    with pytest.raises(
        SentryProvisioningError, match="does not belong to team 'nobody': set ballast:sentryTeam"
    ):
        SentryMetricMonitorProvider(FAST_RETRY).create(monitor_inputs(fake_sentry, team="nobody"))
    with pytest.raises(SentryProvisioningError, match="has no project 'ballast-gone'"):
        SentryAlertProvider(FAST_RETRY).create(alert_inputs(fake_sentry, project_slug="ballast-gone"))
    assert fake_sentry.detectors
    assert fake_sentry.workflows == {}


def test_a_lost_create_response_is_reconciled_not_duplicated(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    fake_sentry.inject(Fault(kind="drop_after", method="POST", path=r"/detectors/$"))
    created = SentryMetricMonitorProvider(FAST_RETRY).create(monitor_inputs(fake_sentry))
    assert [d["type"] for d in fake_sentry.detectors.values()].count("metric_issue") == 1
    fake_sentry.inject(Fault(kind="drop_after", method="POST", path=r"/workflows/$"))
    alert = SentryAlertProvider(FAST_RETRY).create(alert_inputs(fake_sentry))
    assert list(fake_sentry.workflows) == [alert.id]
    assert created.id in fake_sentry.detectors


ALERT_SCOPES = frozenset({"project:read", "project:write", "project:admin", "alerts:read", "alerts:write"})


def test_the_documented_scopes_suffice_and_alerts_write_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SENTRY_AUTH_TOKEN.env_var, TEST_AUTH_TOKEN)
    with FakeSentry(auth_token=TEST_AUTH_TOKEN, scopes=ALERT_SCOPES) as sentry:
        make_project(sentry)
        monitors, alerts = SentryMetricMonitorProvider(FAST_RETRY), SentryAlertProvider(FAST_RETRY)
        monitor = monitors.create(monitor_inputs(sentry))
        alert = alerts.create(alert_inputs(sentry))
        alerts.delete(alert.id, alert.outs or {})
        monitors.delete(monitor.id, monitor.outs or {})
        assert (sentry.detectors.keys() - {monitor.id}, sentry.workflows) != (set(), {})  # issue stream left
        assert sentry.violations == []
    with FakeSentry(auth_token=TEST_AUTH_TOKEN, scopes=ALERT_SCOPES - {"alerts:write"}) as sentry:
        make_project(sentry)  # project:write creates the project (and a monitor: project:write admits it)
        with pytest.raises(ApiError) as caught:
            SentryAlertProvider(FAST_RETRY).create(alert_inputs(sentry))
        assert caught.value.status == 403


# Through Pulumi's dynamic-provider host -------------------------------------------------------------------


@cache
def dynamic_host() -> SimpleNamespace:
    """``pulumi/dynamic/__main__.py`` — the provider host the engine starts — without its last line, which
    serves gRPC forever: the servicer and ``get_provider`` exactly as the engine runs them."""
    path = Path(pulumi.dynamic.__file__).with_name("__main__.py")
    source = path.read_text(encoding="utf-8").rstrip()
    assert source.endswith("\nmain()"), "the dynamic provider host changed shape"
    namespace: dict[str, Any] = {"__name__": "pulumi_dynamic_host_under_test"}
    exec(compile(source.removesuffix("main()"), str(path), "exec"), namespace)  # noqa: S102 - Pulumi's own file
    return SimpleNamespace(**namespace)


class _Context:
    def abort(self, _code: Any, details: str) -> None:
        raise AssertionError(details)


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def test_the_engine_path_preview_create_noop_update_delete(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    host = dynamic_host().DynamicResourceProviderServicer()
    context = _Context()
    urn = "urn:pulumi:staging::ballast::pulumi-python:dynamic/sentry:MetricMonitor::m"
    provider = serialize_provider(SentryMetricMonitorProvider(FAST_RETRY))
    inputs = {dynamic_host().PROVIDER_KEY: provider, **monitor_inputs(fake_sentry)}

    # A first preview: the project slug is another resource's output, not known yet.
    preview = {**inputs, "project_slug": rpc.UNKNOWN}
    checked = host.Check(proto.CheckRequest(urn=urn, olds=_struct({}), news=_struct(preview)), context)
    assert list(checked.failures) == []
    assert checked.inputs.fields["project_slug"].string_value == rpc.UNKNOWN  # handed back still unknown
    assert fake_sentry.requests == [r for r in fake_sentry.requests if "detectors" not in r.path]

    checked = host.Check(proto.CheckRequest(urn=urn, olds=_struct({}), news=_struct(inputs)), context)
    created = host.Create(proto.CreateRequest(urn=urn, properties=checked.inputs), context)
    assert created.id in fake_sentry.detectors
    outs = created.properties

    same = host.Diff(proto.DiffRequest(id=created.id, urn=urn, olds=outs, news=checked.inputs), context)
    assert same.changes == proto.DiffResponse.DIFF_NONE
    later = {**inputs, "threshold": rpc.UNKNOWN}
    unknown = host.Diff(proto.DiffRequest(id=created.id, urn=urn, olds=outs, news=_struct(later)), context)
    assert unknown.changes == proto.DiffResponse.DIFF_SOME

    news = _struct({**inputs, "threshold": 50.0})
    changed = host.Diff(proto.DiffRequest(id=created.id, urn=urn, olds=outs, news=news), context)
    assert (changed.changes, list(changed.replaces)) == (proto.DiffResponse.DIFF_SOME, [])
    updated = host.Update(proto.UpdateRequest(id=created.id, urn=urn, olds=outs, news=news), context)
    assert fake_sentry.detectors[created.id]["condition_group"]["conditions"][0]["comparison"] == 50
    host.Delete(proto.DeleteRequest(id=created.id, urn=urn, properties=updated.properties), context)
    assert created.id not in fake_sentry.detectors
    assert fake_sentry.violations == []


def test_the_token_comes_from_configure_never_inputs_outputs_or_the_pickle(
    fake_sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(fake_sentry)
    monkeypatch.delenv(SENTRY_AUTH_TOKEN.env_var)
    bare = SentryMetricMonitorProvider(FAST_RETRY)
    [missing] = bare.check({}, monitor_inputs(fake_sentry)).failures
    assert "ballast:sentryAuthToken" in missing.reason
    assert SENTRY_AUTH_TOKEN.env_var in missing.reason

    for provider in (SentryMetricMonitorProvider(FAST_RETRY), SentryAlertProvider(FAST_RETRY)):
        configured(provider, {SENTRY_AUTH_TOKEN.config_key: TEST_AUTH_TOKEN})
        pickled = base64.b64decode(serialize_provider(provider))  # what the program stores as __provider
        assert TEST_AUTH_TOKEN.encode() not in pickled
        assert b"infra.providers.sentry_alerts" in pickled  # by reference: this import path must stay
    monitor = configured(
        SentryMetricMonitorProvider(FAST_RETRY), {SENTRY_AUTH_TOKEN.config_key: TEST_AUTH_TOKEN}
    )
    inputs = monitor.check({}, monitor_inputs(fake_sentry)).inputs
    assert "auth_token" not in inputs
    outs = monitor.create(inputs).outs or {}
    assert TEST_AUTH_TOKEN not in json.dumps(outs)
    assert fake_sentry.violations == []
