"""Pulumi dynamic providers for Sentry alerting, over Sentry's current alerting API (workflow engine).

- ``pulumi-python:dynamic/sentry:MetricMonitor`` — a *detector* of type ``metric_issue`` in a project
  (``POST /organizations/{org}/projects/{project}/detectors/``): the number of error events in a window,
  opening a high-priority issue above a threshold (and resolving it at or below).
- ``pulumi-python:dynamic/sentry:Alert`` — a *workflow* (``POST /organizations/{org}/workflows/``) that
  e-mails a team: on a new issue in a project (connected to the project's ``issue_stream`` detector, which
  Sentry creates with the project), or on each issue a monitor opens (connected to that monitor).

The published schema names the request fields in snake case (``detector_ids``, ``condition_group``,
``logic_type``: Sentry's serializers accept both cases); the free-form items inside them (data sources,
conditions, actions) are spelled as the schema's own examples spell them. Team ids (the e-mail target and
``owner``) are read from the stage's project, which ``ballast:sentryTeam`` owns, at create/update time.

Token scopes, as the published API requires them: ``project:read`` (the project, for the team id),
``alerts:read`` (list monitors and alerts), ``alerts:write`` (create, update and delete them).

Uptime checks are not in the published alerting API (detectors are created as ``metric_issue`` only), so
none is declared here.

Credentials (``configure()``, never an input) and retries are the Sentry provisioning providers'
(``infra.providers.sentry``). Inputs not known yet (a first preview: the project slug, a monitor's id) pass
Check as they came and make Diff report a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi.dynamic as dyn

from infra.providers.http import ApiClient, NotFound, recover_create
from infra.providers.props import diff_keys, is_unknown, read_inputs, required_failures, stored
from infra.providers.sentry import (
    SENTRY_API_BASE_URL,
    SentryProvisioningError,
    _api_path,
    _SentryProvider,
)

METRIC_MONITOR_TYPE: Final = "metric_issue"
ISSUE_STREAM_TYPE: Final = "issue_stream"
HIGH_PRIORITY: Final = 75  # Sentry's "high" issue priority (condition results)
RESOLVED: Final = 0
# Sentry accepts these alert frequencies (minutes between two notifications for one issue).
ALERT_FREQUENCIES_MINUTES: Final = (0, 5, 10, 30, 60, 180, 720, 1440)
METRIC_WINDOWS_MINUTES: Final = (1, 5, 10, 15, 30, 60, 120, 240, 1440)
MAX_MONITOR_NAME_CHARS: Final = 200
MAX_ALERT_NAME_CHARS: Final = 256
NEW_ISSUE: Final = "new_issue"
MONITOR_ISSUE: Final = "monitor_issue"
TRIGGERS: Final = (NEW_ISSUE, MONITOR_ISSUE)


# Check helpers ---------------------------------------------------------------------------------------------


def _choice(news: Mapping[str, Any], key: str, allowed: tuple[Any, ...]) -> list[dyn.CheckFailure]:
    value = news.get(key)
    if is_unknown(value) or value in allowed or (isinstance(value, float) and int(value) in allowed):
        return []
    return [dyn.CheckFailure(key, f"{key} must be one of {', '.join(map(str, allowed))}")]


def _too_long(news: Mapping[str, Any], key: str, limit: int) -> list[dyn.CheckFailure]:
    value = news.get(key)
    if isinstance(value, str) and not is_unknown(value) and len(value) > limit:
        return [dyn.CheckFailure(key, f"{key} has at most {limit} characters")]
    return []


def _text(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value or is_unknown(value):
        raise SentryProvisioningError(f"{key} is required")
    return value


def _int(props: Mapping[str, Any], key: str) -> int:
    value = props.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SentryProvisioningError(f"{key} must be a number")
    return int(value)


# Lookups ----------------------------------------------------------------------------------------------------


def team_id(sentry: ApiClient, org: str, project: str, team_slug: str) -> str:
    """The id of the team ``team_slug`` (the e-mail target and owner of alerts), read from the project it
    owns: that needs only ``project:read``, where listing the organization's teams needs ``org:read``."""
    try:
        found = sentry.get(_api_path("projects", org, project))
    except NotFound:
        raise SentryProvisioningError(
            f"Sentry organization {org} has no project {project!r}: the stage's project must exist first"
        ) from None
    teams = [found.get("team"), *(found.get("teams") or [])] if isinstance(found, dict) else []
    for team in teams:
        if isinstance(team, dict) and team.get("slug") == team_slug:
            return str(team["id"])
    raise SentryProvisioningError(
        f"Sentry project {project} does not belong to team {team_slug!r}: set ballast:sentryTeam to the "
        "slug of the team that owns the stage's project"
    )


def _detectors(sentry: ApiClient, org: str, project: str, query: str) -> list[dict[str, Any]]:
    found = sentry.get(_api_path("organizations", org, "detectors"), {"project": project, "query": query})
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def issue_stream_detector_id(sentry: ApiClient, org: str, project: str) -> str:
    """The project's issue-stream detector: what a "new issue" alert connects to."""
    for detector in _detectors(sentry, org, project, f"type:{ISSUE_STREAM_TYPE}"):
        if detector.get("type") == ISSUE_STREAM_TYPE:
            return str(detector["id"])
    raise SentryProvisioningError(
        f"Sentry project {project} has no issue-stream monitor: check that the project exists and the "
        "organization uses Sentry's current alerting (monitors and alerts)"
    )


# Metric monitor (detector) ----------------------------------------------------------------------------------


def monitor_body(props: Mapping[str, Any], owner_team_id: str) -> dict[str, Any]:
    """The detector request: error events in ``window_minutes`` above ``threshold`` open a high issue."""
    threshold = _int(props, "threshold")
    return {
        "name": _text(props, "name"),
        "type": METRIC_MONITOR_TYPE,
        "description": props.get("description") or None,
        "enabled": True,
        "owner": f"team:{owner_team_id}",
        "data_sources": [
            {
                "aggregate": "count()",
                "dataset": "events",
                "environment": props.get("environment") or None,
                "eventTypes": ["error", "default"],
                "query": "",
                "queryType": 0,
                "timeWindow": _int(props, "window_minutes") * 60,
            }
        ],
        "config": {"detectionType": "static"},
        "condition_group": {
            "logic_type": "any",
            "conditions": [
                {"type": "gt", "comparison": threshold, "conditionResult": HIGH_PRIORITY},
                {"type": "lte", "comparison": threshold, "conditionResult": RESOLVED},
            ],
        },
    }


class SentryMetricMonitorProvider(_SentryProvider):
    """An error-count metric monitor in a project. ID: the detector id."""

    REPLACE_KEYS = ("organization", "project_slug", "api_base_url")
    UPDATE_KEYS = ("team", "name", "threshold", "window_minutes", "environment", "description")
    INPUT_KEYS = (*REPLACE_KEYS, *UPDATE_KEYS)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        failures = self.credential_failures() + required_failures(
            news, ("organization", "project_slug", "team", "name")
        )
        failures += _too_long(news, "name", MAX_MONITOR_NAME_CHARS)
        failures += _choice(news, "window_minutes", METRIC_WINDOWS_MINUTES)
        threshold = news.get("threshold")
        if not is_unknown(threshold) and not (
            isinstance(threshold, int | float) and not isinstance(threshold, bool) and threshold >= 1
        ):
            failures.append(dyn.CheckFailure("threshold", "threshold must be a number of events, at least 1"))
        return dyn.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return diff_keys(olds, news, replace=self.REPLACE_KEYS, update=self.UPDATE_KEYS)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        org, project, name = _text(props, "organization"), _text(props, "project_slug"), _text(props, "name")
        with self._client(props) as sentry:
            owner = team_id(sentry, org, project, _text(props, "team"))
            body = monitor_body(props, owner)
            path = _api_path("organizations", org, "projects", project, "detectors")
            detector = recover_create(
                lambda: sentry.post(path, body),
                lambda: _monitor_named(sentry, org, project, name),
            )
        detector_id = str(detector["id"])
        return dyn.CreateResult(detector_id, {**stored(props), "monitor_id": detector_id, "team_id": owner})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        with self._client(props) as sentry:
            try:
                detector = sentry.get(
                    _api_path("organizations", _text(props, "organization"), "detectors", id_)
                )
            except NotFound:
                return dyn.ReadResult("", {})
        outs = stored({**props, "name": detector.get("name", props.get("name"))})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        org = _text(news, "organization")
        with self._client(news) as sentry:
            owner = team_id(sentry, org, _text(news, "project_slug"), _text(news, "team"))
            sentry.put(_api_path("organizations", org, "detectors", id_), monitor_body(news, owner))
        return dyn.UpdateResult({**stored(news), "monitor_id": id_, "team_id": owner})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._client(props) as sentry:
            try:
                sentry.delete(_api_path("organizations", _text(props, "organization"), "detectors", id_))
            except NotFound:
                return


def _monitor_named(sentry: ApiClient, org: str, project: str, name: str) -> dict[str, Any] | None:
    """After a lost create response: the monitor Sentry made, if it did."""
    return next(
        (
            d
            for d in _detectors(sentry, org, project, f"type:{METRIC_MONITOR_TYPE}")
            if d.get("name") == name and d.get("type") == METRIC_MONITOR_TYPE
        ),
        None,
    )


# Alert (workflow) -------------------------------------------------------------------------------------------


def alert_body(props: Mapping[str, Any], owner_team_id: str, detector_ids: list[int]) -> dict[str, Any]:
    """The workflow request: e-mail the team on a new issue, or on each issue the connected monitors open."""
    new_issue = props.get("trigger") == NEW_ISSUE
    conditions = (
        [{"type": "first_seen_event", "comparison": True, "conditionResult": True}] if new_issue else []
    )
    return {
        "name": _text(props, "name"),
        "enabled": True,
        "environment": props.get("environment") or None,
        "owner": f"team:{owner_team_id}",
        "detector_ids": detector_ids,
        "config": {"frequency": _int(props, "frequency_minutes")},
        "triggers": {"logic_type": "any-short", "conditions": conditions},
        "action_filters": [
            {
                "logicType": "any-short",
                "conditions": [],
                "actions": [
                    {
                        "type": "email",
                        "integrationId": None,
                        "data": {},
                        "config": {
                            "targetType": "team",
                            "targetDisplay": None,
                            "targetIdentifier": owner_team_id,
                        },
                        "status": "active",
                    }
                ],
            }
        ],
    }


class SentryAlertProvider(_SentryProvider):
    """An alert e-mailing a team (the owner of ``project_slug``). ID: the workflow id.

    ``trigger``: ``new_issue`` (connected to ``project_slug``'s issue-stream detector) or ``monitor_issue``
    (connected to ``monitor_ids``).
    """

    REPLACE_KEYS = ("organization", "api_base_url")
    UPDATE_KEYS = (
        "team",
        "name",
        "trigger",
        "frequency_minutes",
        "project_slug",
        "monitor_ids",
        "environment",
    )
    INPUT_KEYS = (*REPLACE_KEYS, *UPDATE_KEYS)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        required = ("organization", "team", "name", "project_slug")
        failures = self.credential_failures() + required_failures(news, required)
        failures += _too_long(news, "name", MAX_ALERT_NAME_CHARS)
        failures += _choice(news, "trigger", TRIGGERS)
        failures += _choice(news, "frequency_minutes", ALERT_FREQUENCIES_MINUTES)
        trigger = news.get("trigger")
        monitors = news.get("monitor_ids")
        if (
            trigger == MONITOR_ISSUE
            and not is_unknown(monitors)
            and not (isinstance(monitors, list) and monitors)
        ):
            failures.append(
                dyn.CheckFailure("monitor_ids", "a monitor_issue alert needs at least one monitor")
            )
        return dyn.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return diff_keys(olds, news, replace=self.REPLACE_KEYS, update=self.UPDATE_KEYS)

    def _resolve(self, sentry: ApiClient, props: Mapping[str, Any]) -> tuple[str, list[int]]:
        org, project = _text(props, "organization"), _text(props, "project_slug")
        owner = team_id(sentry, org, project, _text(props, "team"))
        if props.get("trigger") == NEW_ISSUE:
            ids = [issue_stream_detector_id(sentry, org, project)]
        else:
            ids = [str(i) for i in props.get("monitor_ids") or []]
        return owner, [int(i) for i in ids]

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        org, name = _text(props, "organization"), _text(props, "name")
        path = _api_path("organizations", org, "workflows")
        with self._client(props) as sentry:
            owner, detectors = self._resolve(sentry, props)
            body = alert_body(props, owner, detectors)
            workflow = recover_create(
                lambda: sentry.post(path, body), lambda: _alert_named(sentry, org, name)
            )
        alert_id = str(workflow["id"])
        outs = {
            **stored(props),
            "alert_id": alert_id,
            "team_id": owner,
            "detector_id_list": [str(d) for d in detectors],
        }
        return dyn.CreateResult(alert_id, outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        with self._client(props) as sentry:
            try:
                workflow = sentry.get(
                    _api_path("organizations", _text(props, "organization"), "workflows", id_)
                )
            except NotFound:
                return dyn.ReadResult("", {})
        outs = stored({**props, "name": workflow.get("name", props.get("name"))})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        org = _text(news, "organization")
        with self._client(news) as sentry:
            owner, detectors = self._resolve(sentry, news)
            sentry.put(_api_path("organizations", org, "workflows", id_), alert_body(news, owner, detectors))
        outs = {
            **stored(news),
            "alert_id": id_,
            "team_id": owner,
            "detector_id_list": [str(d) for d in detectors],
        }
        return dyn.UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._client(props) as sentry:
            try:
                sentry.delete(_api_path("organizations", _text(props, "organization"), "workflows", id_))
            except NotFound:
                return


def _alert_named(sentry: ApiClient, org: str, name: str) -> dict[str, Any] | None:
    found = sentry.get(_api_path("organizations", org, "workflows"), {"query": name})
    items = found if isinstance(found, list) else []
    return next((w for w in items if isinstance(w, dict) and w.get("name") == name), None)


# Resources --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentryMetricMonitorArgs:
    organization: str
    project_slug: pulumi.Input[str]
    team: str
    name: str
    threshold: int
    window_minutes: int
    environment: str | None = None
    description: str | None = None
    api_base_url: str = SENTRY_API_BASE_URL


class SentryMetricMonitor(dyn.Resource, module="sentry", name="MetricMonitor"):
    """``pulumi-python:dynamic/sentry:MetricMonitor``; outputs ``monitor_id``."""

    monitor_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: SentryMetricMonitorArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: SentryMetricMonitorProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": args.organization,
            "project_slug": args.project_slug,
            "team": args.team,
            "name": args.name,
            "threshold": args.threshold,
            "window_minutes": args.window_minutes,
            "environment": args.environment,
            "description": args.description,
            "api_base_url": args.api_base_url,
            "monitor_id": None,
            "team_id": None,
        }
        super().__init__(provider or SentryMetricMonitorProvider(), resource_name, props, opts)


@dataclass(frozen=True)
class SentryAlertArgs:
    organization: str
    team: str
    name: str
    trigger: str  # NEW_ISSUE or MONITOR_ISSUE
    frequency_minutes: int
    project_slug: pulumi.Input[str]
    monitor_ids: pulumi.Input[list[pulumi.Input[str]]] | None = None
    environment: str | None = None
    api_base_url: str = SENTRY_API_BASE_URL


class SentryAlert(dyn.Resource, module="sentry", name="Alert"):
    """``pulumi-python:dynamic/sentry:Alert``; outputs ``alert_id``."""

    alert_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: SentryAlertArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: SentryAlertProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "organization": args.organization,
            "team": args.team,
            "name": args.name,
            "trigger": args.trigger,
            "frequency_minutes": args.frequency_minutes,
            "project_slug": args.project_slug,
            "monitor_ids": args.monitor_ids,
            "environment": args.environment,
            "api_base_url": args.api_base_url,
            "alert_id": None,
            "team_id": None,
            "detector_id_list": None,
        }
        super().__init__(provider or SentryAlertProvider(), resource_name, props, opts)
