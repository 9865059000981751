"""The Database and Monitoring components under Pulumi's mocks, with a monitor that records every
registration (type, parent, protect, retain-on-delete, additional secret outputs, which inputs are secret).

Values are collected inside ``apply`` and asserted after the program ran, so an unknown output cannot make
an assertion silently skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pytest

from infra.database import Database, DatabaseArgs
from infra.monitoring import Monitoring, MonitoringArgs, MonitoringConfigError
from infra.plan.record import RecordedResource, RecordingMonitor
from infra.providers.neon import NeonConfigError, preview_expiry

MOCK_PASSWORD = "mock-role-password-Zq8"


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    parent: str
    protect: bool
    retain_on_delete: bool
    secret_outputs: tuple[str, ...]
    secret_inputs: tuple[str, ...]
    plain_inputs: str  # every non-secret input value, flattened, to search for leaks


class ComponentMonitor(RecordingMonitor):
    """The plan's recording monitor, each registration summarised for these checks."""

    def of_type(self, suffix: str) -> list[Registration]:
        return [_summary(r) for r in self.registrations if r.type.endswith(suffix)]

    @property
    def summaries(self) -> list[Registration]:
        return [_summary(r) for r in self.registrations]


def _summary(recorded: RecordedResource) -> Registration:
    secret_inputs = tuple(sorted({path.split(".")[0].split("[")[0] for path in recorded.secret_paths}))
    return Registration(
        type=recorded.type,
        name=recorded.name,
        parent=recorded.analyzed.parent or "",
        protect=recorded.analyzed.protect,
        retain_on_delete=recorded.retain_on_delete,
        secret_outputs=recorded.analyzed.additional_secret_outputs,
        secret_inputs=secret_inputs,
        plain_inputs=repr({k: v for k, v in recorded.inputs.items() if k not in secret_inputs}),
    )


class StageMocks(pulumi.runtime.Mocks):
    """Plausible provider outputs for each dynamic resource type (what the real providers return)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = {k: v for k, v in args.inputs.items() if k != "__provider"}
        host = "ep-mock-1.eu-central-1.aws.neon.tech"
        computed: dict[str, dict[str, Any]] = {
            "neon:Branch": {
                "branch_id": "br-mock-1",
                "endpoint_id": "ep-mock-1",
                "host": host,
                "pooler_host": "ep-mock-1-pooler.eu-central-1.aws.neon.tech",
            },
            "neon:Role": {"password": MOCK_PASSWORD, "password_revision": "2026-01-01T00:00:00Z"},
            "neon:Connection": {
                "pooled_uri": f"postgresql://app:{MOCK_PASSWORD}@ep-mock-1-pooler.eu-central-1.aws.neon.tech/app",
                "direct_uri": f"postgresql://app:{MOCK_PASSWORD}@{host}/app",
            },
            "sentry:Project": {"project_id": "4501"},
            "sentry:ClientKey": {"key_id": "k-1", "dsn": "https://public@o1.ingest.sentry.io/4501"},
        }
        suffix = args.typ.rsplit("/", 1)[-1]
        return f"{args.name}-id", {**inputs, **computed.get(suffix, {})}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def monitor() -> ComponentMonitor:
    mocks = StageMocks()
    recording = ComponentMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="ballast", stack="staging", preview=False, monitor=recording)
    return recording


def _secret_flags(*outputs: pulumi.Output[Any]) -> pulumi.Output[list[Any]]:
    return pulumi.Output.all(*[pulumi.Output.from_input(o.is_secret()) for o in outputs])


def test_database_declares_branch_role_database_connection_with_secret_urls(
    monitor: ComponentMonitor,
) -> None:
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        db = Database("staging-db", DatabaseArgs(project_id="proj-1", stage="staging"))
        values = pulumi.Output.all(db.branch_id, db.endpoint_id, db.pooler_host, db.pooled_url, db.direct_url)
        flags = _secret_flags(db.pooled_url, db.direct_url, db.branch_id)
        return pulumi.Output.all(values, flags).apply(lambda v: seen.update(values=v[0], secret=v[1]))

    program()
    branch_id, endpoint_id, pooler, pooled, direct = seen["values"]
    assert (branch_id, endpoint_id) == ("br-mock-1", "ep-mock-1")
    assert "-pooler." in pooled
    assert pooler in pooled
    assert "-pooler." not in direct
    assert seen["secret"] == [True, True, False]

    [component] = monitor.of_type("ballast:database:Database")
    kinds = {r.type: r for r in monitor.summaries if r.type.startswith("pulumi-python:dynamic/neon:")}
    assert set(kinds) == {
        f"pulumi-python:dynamic/neon:{n}" for n in ("Branch", "Role", "Database", "Connection")
    }
    assert all(r.parent.endswith("ballast:database:Database::staging-db") for r in kinds.values())
    assert not any(r.protect or r.retain_on_delete for r in kinds.values())
    assert "password" in kinds["pulumi-python:dynamic/neon:Role"].secret_outputs
    assert {"pooled_uri", "direct_uri"} <= set(kinds["pulumi-python:dynamic/neon:Connection"].secret_outputs)
    for registration in kinds.values():  # the key comes in the providers' configure(), never as input
        assert set(registration.secret_inputs) == {"__provider"}
        assert "api_key" not in registration.secret_outputs
        assert "api_key" not in registration.plain_inputs
    assert component.name == "staging-db"


def test_production_database_is_protected_retained_and_adopts_the_default_branch(
    monitor: ComponentMonitor,
) -> None:
    @pulumi.runtime.test
    def program() -> None:
        Database(
            "production-db",
            DatabaseArgs(
                project_id="proj-1",
                stage="production",
                adopt_default_branch=True,
                protected=True,
                autoscaling_min_cu=0.5,
                autoscaling_max_cu=2,
                retain_on_delete=True,
            ),
            pulumi.ResourceOptions(protect=True),  # children inherit it
        )

    program()
    branch, role, database = (monitor.of_type(f"neon:{n}")[0] for n in ("Branch", "Role", "Database"))
    assert all(r.protect and r.retain_on_delete for r in (branch, role, database))
    assert "'adopt_default_branch'" in branch.plain_inputs


def test_preview_database_passes_its_expiry_and_bad_settings_are_all_listed(
    monitor: ComponentMonitor,
) -> None:
    @pulumi.runtime.test
    def program() -> None:
        Database("pr-db", DatabaseArgs(project_id="proj-1", stage="pr-123", expires_at=preview_expiry(7)))

    program()
    assert "'expires_at'" in monitor.of_type("neon:Branch")[0].plain_inputs

    too_far = (datetime.now(UTC) + timedelta(days=45)).isoformat()
    with pytest.raises(NeonConfigError) as caught:
        Database(
            "bad-db",
            DatabaseArgs(
                project_id="p", stage="production", protected=True, expires_at=too_far, autoscaling_min_cu=0.1
            ),
        )
    message = str(caught.value)
    assert "Database 'bad-db' (production)" in message
    assert "protected branch" in message
    assert "more than 30 days ahead" in message
    assert "autoscaling_min_cu" in message


def test_monitoring_declares_project_and_rate_limited_key_with_secret_dsn(monitor: ComponentMonitor) -> None:
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        monitoring = Monitoring(
            "staging-monitoring",
            MonitoringArgs(
                organization="acme",
                team="backend",
                stage="staging",
                rate_limit_count=500,
            ),
        )
        values = pulumi.Output.all(monitoring.dsn, monitoring.project_slug, monitoring.key_id)
        flags = _secret_flags(monitoring.dsn, monitoring.project_slug)
        return pulumi.Output.all(values, flags).apply(lambda v: seen.update(values=v[0], secret=v[1]))

    program()
    assert seen["values"] == ["https://public@o1.ingest.sentry.io/4501", "ballast-staging", "k-1"]
    assert seen["secret"] == [True, False]
    project = monitor.of_type("sentry:Project")[0]
    key = monitor.of_type("sentry:ClientKey")[0]
    assert project.type == "pulumi-python:dynamic/sentry:Project"
    assert "'rate_limit_count'" in key.plain_inputs
    assert "500" in key.plain_inputs
    assert "dsn" in key.secret_outputs
    for registration in (project, key):
        assert set(registration.secret_inputs) == {"__provider"}
        assert "auth_token" not in registration.plain_inputs
    assert monitor.of_type("ballast:monitoring:Monitoring")[0].name == "staging-monitoring"


def test_monitoring_lists_every_bad_setting() -> None:
    with pytest.raises(MonitoringConfigError) as caught:
        Monitoring(
            "m",
            MonitoringArgs(
                organization="acme",
                team="",
                stage="staging",
                project_slug="Not A Slug",
                rate_limit_count=0,
                rate_limit_window_seconds=100000,
            ),
        )
    message = str(caught.value)
    for fragment in (
        "team: must not be empty",
        "not a Sentry slug",
        "rate_limit_count",
        "rate_limit_window_seconds",
    ):
        assert fragment in message
