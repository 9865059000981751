"""``Monitoring``: one stage's Sentry project and its rate-limited client key; the DSN is a secret output.

One Sentry project per stage (``ballast-<stage>``), not one shared project with per-stage environments:
each stack then owns everything it uses — a preview's ``pulumi destroy`` removes its project, staging noise
never lands in production's issue stream or alert rules, and no stack ever holds a key into another
stage's project. The runtime still tags events with the stage as their environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.providers.sentry import (
    SENTRY_API_BASE_URL,
    RateLimit,
    SentryClientKey,
    SentryClientKeyArgs,
    SentryProject,
    SentryProjectArgs,
    project_problems,
)
from infra.providers.sentry_alerts import (
    MONITOR_ISSUE,
    NEW_ISSUE,
    SentryAlert,
    SentryAlertArgs,
    SentryMetricMonitor,
    SentryMetricMonitorArgs,
)

COMPONENT_TYPE = "ballast:monitoring:Monitoring"


class MonitoringConfigError(ValueError):
    """Monitoring settings Sentry would refuse; the message lists every problem."""


@dataclass(frozen=True)
class MonitoringArgs:
    """Per-stage Sentry settings.

    - ``organization``/``team``: slugs of the Sentry organization and the team that owns the project.
    - ``rate_limit_count`` events per ``rate_limit_window_seconds`` (1 to 86400) through the stage's key.
    - ``retain_on_delete``: a destroy leaves the project (its issue history) and key in Sentry. Protection
      (``protect``) comes with the component's options and both children inherit it.
    - ``api_base_url``: ``https://sentry.io`` (or a region such as ``https://de.sentry.io``, or self-hosted).
    """

    organization: str
    team: str
    stage: str
    rate_limit_count: int
    rate_limit_window_seconds: int = 60
    project_slug: str | None = None  # default: "ballast-<stage>"
    project_name: str | None = None  # default: "Ballast <stage>"
    platform: str = "python-awslambda"
    retain_on_delete: bool = False
    api_base_url: str = SENTRY_API_BASE_URL

    @property
    def resolved_slug(self) -> str:
        return self.project_slug or f"ballast-{self.stage}"

    @property
    def resolved_name(self) -> str:
        return self.project_name or f"Ballast {self.stage}"

    def problems(self) -> list[tuple[str, str]]:
        problems = [
            (prop, "must not be empty")
            for prop in ("organization", "team", "stage")
            if not getattr(self, prop)
        ]
        problems += project_problems(self.resolved_slug, self.resolved_name)
        problems += RateLimit(self.rate_limit_count, self.rate_limit_window_seconds).problems()
        return problems


class Monitoring(pulumi.ComponentResource):
    """``ballast:monitoring:Monitoring``; outputs ``dsn`` (secret), ``project_slug``, ``key_id``.

    Children are reachable as ``project`` and ``key``.
    """

    dsn: pulumi.Output[str]
    project_slug: pulumi.Output[str]
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            listed = "; ".join(f"{prop}: {reason}" for prop, reason in problems)
            raise MonitoringConfigError(f"Monitoring {name!r} ({args.stage}): {listed}")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete)
        self.project = SentryProject(
            f"{name}-project",
            SentryProjectArgs(
                organization=args.organization,
                team=args.team,
                project_slug=args.resolved_slug,
                project_name=args.resolved_name,
                platform=args.platform,
                api_base_url=args.api_base_url,
            ),
            # A new team replaces the project (the published API cannot move it), and its slug is unique in
            # the organization: the old project must go first, or the create fails "already has a project".
            pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(delete_before_replace=True)),
        )
        self.key = SentryClientKey(
            f"{name}-key",
            SentryClientKeyArgs(
                organization=args.organization,
                project_slug=self.project.project_slug,
                key_name=f"ballast-{args.stage}",
                rate_limit_count=args.rate_limit_count,
                rate_limit_window_seconds=args.rate_limit_window_seconds,
                api_base_url=args.api_base_url,
            ),
            kept,
        )
        self.dsn = pulumi.Output.secret(self.key.dsn)
        self.project_slug = self.project.project_slug
        self.key_id = self.key.key_id
        self.register_outputs({"dsn": self.dsn, "project_slug": self.project_slug, "key_id": self.key_id})


SENTRY_ALERTS_COMPONENT_TYPE = "ballast:monitoring:SentryAlerts"
NEW_ISSUE_FREQUENCY_MINUTES = 30  # one e-mail per issue per half hour at most
MONITOR_FREQUENCY_MINUTES = 5


@dataclass(frozen=True)
class SentryAlertsArgs:
    """A stage's Sentry alerts, all e-mailing ``team``, all limited to the stage's environment.

    - a **new issue** in the stage's project;
    - **error count**: more than ``error_count`` error events in ``window_minutes`` (a metric monitor that
      opens a high-priority issue, and an alert on the issues it opens).
    """

    organization: str
    team: str
    stage: str
    project_slug: pulumi.Input[str]
    error_count: int
    window_minutes: int
    api_base_url: str = SENTRY_API_BASE_URL


class SentryAlerts(pulumi.ComponentResource):
    """``ballast:monitoring:SentryAlerts``; children error_monitor, new_issue_alert, error_alert."""

    def __init__(self, name: str, args: SentryAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SENTRY_ALERTS_COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        common = {
            "organization": args.organization,
            "team": args.team,
            "environment": args.stage,  # the runtime's Sentry environment is the stage
            "api_base_url": args.api_base_url,
        }
        self.error_monitor = SentryMetricMonitor(
            f"{name}-error-count",
            SentryMetricMonitorArgs(
                project_slug=args.project_slug,
                name=f"ballast-{args.stage}: over {args.error_count} errors in {args.window_minutes} min",
                threshold=args.error_count,
                window_minutes=args.window_minutes,
                description=(
                    f"Error events of stage {args.stage} crossed {args.error_count} in {args.window_minutes} "
                    "minutes. Open the newest issues of the project, find the errorId in the function's "
                    "JSON log lines, roll back the last deploy if it started then."
                ),
                **common,
            ),
            child,
        )
        self.new_issue_alert = SentryAlert(
            f"{name}-new-issue",
            SentryAlertArgs(
                name=f"ballast-{args.stage}: new issue (triage it: assign, fix or ignore)",
                trigger=NEW_ISSUE,
                frequency_minutes=NEW_ISSUE_FREQUENCY_MINUTES,
                project_slug=args.project_slug,
                **common,  # type: ignore[arg-type]
            ),
            child,
        )
        self.error_alert = SentryAlert(
            f"{name}-error-count-alert",
            SentryAlertArgs(
                name=f"ballast-{args.stage}: error count above {args.error_count} in "
                f"{args.window_minutes} min (check the last deploy and the database)",
                trigger=MONITOR_ISSUE,
                frequency_minutes=MONITOR_FREQUENCY_MINUTES,
                project_slug=args.project_slug,
                monitor_ids=[self.error_monitor.monitor_id],
                **common,
            ),
            child,
        )
        self.register_outputs(
            {
                "error_monitor_id": self.error_monitor.monitor_id,
                "new_issue_alert_id": self.new_issue_alert.alert_id,
                "error_alert_id": self.error_alert.alert_id,
            }
        )
