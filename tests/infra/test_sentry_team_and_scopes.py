"""Sentry: a team change (the published API cannot move a project, its slug is unique in the organization)
and the token scopes each call needs, against the fake Sentry held to the published spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from infra.monitoring import Monitoring, MonitoringArgs
from infra.providers.http import ApiError
from infra.providers.sentry import (
    SCOPES,
    SentryClientKeyProvider,
    SentryProjectProvider,
    SentryProvisioningError,
)
from runtime.constants import SENTRY_AUTH_TOKEN
from tests.fixtures.fake_api import FAST_RETRY
from tests.fixtures.fake_sentry import TEST_AUTH_TOKEN, FakeSentry

TEAMS = ("backend", "platform")


def sentry(monkeypatch: pytest.MonkeyPatch, scopes: frozenset[str] | None = None) -> FakeSentry:
    monkeypatch.setenv(SENTRY_AUTH_TOKEN, TEST_AUTH_TOKEN)
    return FakeSentry(auth_token=TEST_AUTH_TOKEN, teams=TEAMS, scopes=scopes)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentry]:
    with sentry(monkeypatch, frozenset(SCOPES)) as server:  # exactly the scopes the README asks for
        yield server


def project_inputs(fake: FakeSentry, team: str = "backend") -> dict[str, Any]:
    return {
        "organization": fake.organization,
        "team": team,
        "project_slug": "ballast-pr-7",
        "project_name": "Ballast pr-7",
        "platform": "python-awslambda",
        "api_base_url": fake.base_url,
    }


def key_inputs(fake: FakeSentry) -> dict[str, Any]:
    return {
        "organization": fake.organization,
        "project_slug": "ballast-pr-7",
        "key_name": "ballast-pr-7",
        "rate_limit_count": 30.0,
        "rate_limit_window_seconds": 60.0,
        "api_base_url": fake.base_url,
    }


def test_a_team_change_replaces_the_project_deleting_it_first(fake: FakeSentry) -> None:
    projects, keys = SentryProjectProvider(FAST_RETRY), SentryClientKeyProvider(FAST_RETRY)
    old = projects.create(project_inputs(fake))
    old_key = keys.create(keys.check({}, key_inputs(fake)).inputs)
    news = project_inputs(fake, team="platform")

    assert projects.diff(old.id, old.outs or {}, news).replaces == ["team"]
    # Create-before-delete (the engine's default) cannot work: the slug is still taken.
    with pytest.raises(SentryProvisioningError, match="already has a project 'ballast-pr-7'"):
        projects.create(news)

    # Delete-before-replace, in the engine's order: the dependent key, the project, then both anew.
    keys.delete(old_key.id, old_key.outs or {})
    projects.delete(old.id, old.outs or {})
    new = projects.create(news)
    new_key = keys.create(keys.check({}, key_inputs(fake)).inputs)

    assert fake.projects["ballast-pr-7"].team == "platform"
    assert (new.outs or {})["project_id"] != (old.outs or {})["project_id"]
    assert (new_key.outs or {})["dsn"] != (old_key.outs or {})["dsn"]
    assert fake.violations == []


def test_a_project_moved_to_another_team_in_sentry_is_read_back_not_replaced(fake: FakeSentry) -> None:
    provider = SentryProjectProvider(FAST_RETRY)
    created = provider.create(project_inputs(fake))
    fake.projects["ballast-pr-7"].team = "platform"  # moved in Sentry's settings

    refreshed = provider.read(created.id, created.outs or {})
    assert refreshed.outs["team"] == refreshed.inputs["team"] == "platform"
    diff = provider.diff(created.id, refreshed.outs, project_inputs(fake, team="platform"))
    assert (diff.changes, diff.replaces) == (False, [])


def test_monitoring_declares_the_project_delete_before_replace() -> None:
    class Capturing(MockMonitor):
        def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
            super().__init__(mocks)
            self.delete_first: dict[str, bool] = {}

        def RegisterResource(self, request: Any) -> Any:
            self.delete_first[request.type] = bool(request.deleteBeforeReplace)
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            extra = (
                {"key_id": "k-1", "dsn": "https://k@o1.ingest.sentry.io/1"} if "ClientKey" in args.typ else {}
            )
            return f"{args.name}-id", {**args.inputs, **extra}

        def call(
            self, args: pulumi.runtime.MockCallArgs
        ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            return {}, None

    mocks = Mocks()
    monitor = Capturing(mocks)
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="ballast", stack="pr-7", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program() -> None:
        Monitoring(
            "m", MonitoringArgs(organization="acme", team="backend", stage="pr-7", rate_limit_count=30)
        )

    program()
    assert monitor.delete_first["pulumi-python:dynamic/sentry:Project"] is True
    assert monitor.delete_first["pulumi-python:dynamic/sentry:ClientKey"] is False


def test_without_project_admin_a_preview_cannot_be_destroyed_and_the_error_names_the_scope(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sentry(monkeypatch, frozenset({"project:read", "project:write"})) as fake:  # the old README's scopes
        projects, keys = SentryProjectProvider(FAST_RETRY), SentryClientKeyProvider(FAST_RETRY)
        project = projects.create(project_inputs(fake))
        key = keys.create(keys.check({}, key_inputs(fake)).inputs)
        keys.update(key.id, key.outs or {}, {**(key.outs or {}), "rate_limit_count": 31.0})

        for delete in (
            lambda: keys.delete(key.id, key.outs or {}),
            lambda: projects.delete(project.id, project.outs or {}),
        ):
            with pytest.raises(ApiError) as caught:
                delete()
            assert caught.value.status == 403
            assert "project:admin deletes a project or a key" in str(caught.value)
        assert TEST_AUTH_TOKEN not in str(caught.value)


def test_with_the_documented_scopes_the_whole_lifecycle_runs(fake: FakeSentry) -> None:
    projects, keys = SentryProjectProvider(FAST_RETRY), SentryClientKeyProvider(FAST_RETRY)
    project = projects.create(project_inputs(fake))
    projects.update(project.id, project.outs or {}, {**project_inputs(fake), "project_name": "Ballast pr 7"})
    key = keys.create(keys.check({}, key_inputs(fake)).inputs)
    keys.read(key.id, key.outs or {})
    keys.delete(key.id, key.outs or {})
    projects.delete(project.id, project.outs or {})
    assert fake.projects == {}
    assert fake.violations == []
