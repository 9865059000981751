"""The Sentry dynamic providers, called directly, against the local fake Sentry that checks every request
against the published Sentry OpenAPI subset in tests/fixtures/specs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown

from infra.providers.credentials import MissingCredential
from infra.providers.http import ApiError
from infra.providers.sentry import SentryClientKeyProvider, SentryProjectProvider, SentryProvisioningError
from runtime.constants import SENTRY_AUTH_TOKEN
from tests.fixtures.config import configured
from tests.fixtures.fake_api import FAST_RETRY, Fault
from tests.fixtures.fake_sentry import TEST_AUTH_TOKEN, FakeSentry


def project_inputs(sentry: FakeSentry, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "organization": sentry.organization,
        "team": "backend",
        "project_slug": "ballast-staging",
        "project_name": "Ballast staging",
        "platform": "python-awslambda",
        "api_base_url": sentry.base_url,
    }
    return {**props, **overrides}


def key_inputs(sentry: FakeSentry, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "organization": sentry.organization,
        "project_slug": "ballast-staging",
        "key_name": "ballast-staging",
        "rate_limit_count": 100.0,  # the engine hands numbers over as floats
        "rate_limit_window_seconds": 60.0,
        "api_base_url": sentry.base_url,
    }
    return {**props, **overrides}


def make_project(sentry: FakeSentry, **overrides: Any) -> dict[str, Any]:
    return SentryProjectProvider(FAST_RETRY).create(project_inputs(sentry, **overrides)).outs or {}


def make_key(sentry: FakeSentry, **overrides: Any) -> tuple[str, dict[str, Any]]:
    provider = SentryClientKeyProvider(FAST_RETRY)
    checked = provider.check({}, key_inputs(sentry, **overrides))
    assert checked.failures == [], [f.reason for f in checked.failures]
    created = provider.create(checked.inputs)
    return created.id, created.outs or {}


def test_project_round_trip(fake_sentry: FakeSentry) -> None:
    provider = SentryProjectProvider(FAST_RETRY)
    inputs = project_inputs(fake_sentry)
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    project = fake_sentry.projects["ballast-staging"]
    assert created.id == "ballast-org/ballast-staging"
    assert (project.name, project.team, project.platform) == (
        "Ballast staging",
        "backend",
        "python-awslambda",
    )
    assert (created.outs or {})["project_id"] == str(project.id)
    post = next(r for r in fake_sentry.requests if r.method == "POST")
    assert post.path == "/api/0/teams/ballast-org/backend/projects/"
    assert post.body == {
        "name": "Ballast staging",
        "slug": "ballast-staging",
        "default_rules": True,
        "platform": "python-awslambda",
    }

    outs = created.outs or {}
    assert provider.read(created.id, outs).outs["project_name"] == "Ballast staging"
    renamed = {**outs, "project_name": "Ballast staging env"}
    diff = provider.diff(created.id, outs, renamed)
    assert (diff.changes, diff.replaces) == (True, [])
    assert provider.diff(created.id, outs, {**outs, "project_slug": "other"}).replaces == ["project_slug"]
    provider.update(created.id, outs, renamed)
    assert project.name == "Ballast staging env"

    provider.delete(created.id, outs)
    assert fake_sentry.projects == {}
    provider.delete(created.id, outs)  # 404: already gone, done
    assert provider.read(created.id, outs).id == ""
    assert fake_sentry.violations == []


def test_existing_project_slug_is_refused_before_posting(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    with pytest.raises(SentryProvisioningError, match="already has a project 'ballast-staging'"):
        make_project(fake_sentry)
    assert sum(1 for r in fake_sentry.requests if r.method == "POST") == 1


def test_client_key_round_trip_with_rate_limit_and_dsn(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    provider = SentryClientKeyProvider(FAST_RETRY)
    key_id, outs = make_key(fake_sentry)
    project = fake_sentry.projects["ballast-staging"]
    key = project.keys[key_id]
    assert key.rate_limit == {"window": 60, "count": 100}
    assert outs["dsn"] == fake_sentry.dsn_of(key, project)
    assert key.secret not in json.dumps(outs)  # the legacy secret key never leaves Sentry
    assert set(outs) >= {"key_id", "dsn", "rate_limit_count", "rate_limit_window_seconds"}

    read = provider.read(key_id, outs)
    assert (read.outs["rate_limit_count"], read.outs["dsn"]) == (100, outs["dsn"])

    tighter = {**outs, "rate_limit_count": 10}
    assert provider.diff(key_id, outs, tighter).changes is True
    assert provider.diff(key_id, outs, {**outs}).changes is False
    updated = provider.update(key_id, outs, tighter).outs or {}
    assert key.rate_limit == {"window": 60, "count": 10}
    assert updated["dsn"] == outs["dsn"]

    provider.delete(key_id, updated)
    assert project.keys == {}
    provider.delete(key_id, updated)
    assert provider.read(key_id, updated).id == ""
    assert fake_sentry.violations == []


@pytest.mark.parametrize(
    ("provider", "inputs", "prop", "fragment"),
    [
        ("project", {"project_slug": "Ballast Staging"}, "project_slug", "not a Sentry slug"),
        ("project", {"project_slug": "12345"}, "project_slug", "not a Sentry slug"),
        ("project", {"project_name": "x" * 51}, "project_name", "at most 50"),
        ("project", {"team": ""}, "team", "required"),
        ("key", {"rate_limit_count": 0.0}, "rate_limit_count", "at least 1"),
        ("key", {"rate_limit_window_seconds": 90000.0}, "rate_limit_window_seconds", "1 to 86400"),
        ("key", {"rate_limit_count": "many"}, "rate_limit_count", "numbers"),
        ("key", {"key_name": "k" * 65}, "key_name", "at most 64"),
    ],
)
def test_check_names_the_property_sentry_would_refuse(
    fake_sentry: FakeSentry, provider: str, inputs: dict[str, Any], prop: str, fragment: str
) -> None:
    if provider == "project":
        result = SentryProjectProvider(FAST_RETRY).check({}, project_inputs(fake_sentry, **inputs))
    else:
        result = SentryClientKeyProvider(FAST_RETRY).check({}, key_inputs(fake_sentry, **inputs))
    assert prop in [f.property for f in result.failures]
    assert any(fragment in f.reason for f in result.failures), [f.reason for f in result.failures]
    assert fake_sentry.requests == []


def test_rate_limits_and_server_errors_are_retried_until_the_key_exists(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    limited = fake_sentry.inject(
        Fault(status=429, method="POST", path=r"/keys/$", retry_after="0.1", times=2)
    )
    flaky = fake_sentry.inject(Fault(status=502, method="GET", path=r"/keys/$", times=2))
    key_id, _ = make_key(fake_sentry)
    assert (limited.hits, flaky.hits) == (2, 2)
    assert list(fake_sentry.projects["ballast-staging"].keys) == [key_id]


def test_lost_key_create_response_is_reconciled_not_duplicated(fake_sentry: FakeSentry) -> None:
    make_project(fake_sentry)
    make_key(fake_sentry, key_name="someone-else")  # same project, another key: must not be adopted
    fake_sentry.inject(Fault(kind="drop_after", method="POST", path=r"/keys/$"))
    key_id, outs = make_key(fake_sentry, key_name="ballast-staging")
    keys = fake_sentry.projects["ballast-staging"].keys
    assert sorted(k.name for k in keys.values()) == ["ballast-staging", "someone-else"]
    assert keys[key_id].name == "ballast-staging"
    assert outs["key_id"] == key_id


def test_lost_project_create_response_is_reconciled(fake_sentry: FakeSentry) -> None:
    fake_sentry.inject(Fault(kind="drop_after", method="POST", path=r"/projects/$"))
    outs = make_project(fake_sentry)
    assert list(fake_sentry.projects) == ["ballast-staging"]
    assert outs["project_id"] == str(fake_sentry.projects["ballast-staging"].id)


def test_unknown_team_fails_with_sentry_detail(fake_sentry: FakeSentry) -> None:
    with pytest.raises(ApiError) as caught:
        make_project(fake_sentry, team="nobody")
    assert caught.value.status == 404
    assert (
        "Sentry API POST /api/0/teams/ballast-org/nobody/projects/ failed: HTTP 404: Team not found."
        in str(caught.value)
    )


def test_token_never_in_outputs_serialized_provider_or_errors(
    fake_sentry: FakeSentry, monkeypatch: pytest.MonkeyPatch
) -> None:
    outs = make_project(fake_sentry)
    _, key_outs = make_key(fake_sentry)
    assert TEST_AUTH_TOKEN not in json.dumps([outs, key_outs])
    for provider in (SentryProjectProvider(FAST_RETRY), SentryClientKeyProvider()):
        pickled = base64.b64decode(serialize_provider(provider))
        assert TEST_AUTH_TOKEN.encode() not in pickled
        assert b"infra.providers.sentry" in pickled

    monkeypatch.setenv(SENTRY_AUTH_TOKEN, TEST_AUTH_TOKEN + "x")
    with pytest.raises(ApiError) as caught:
        make_project(fake_sentry, project_slug="ballast-pr-1")
    assert caught.value.status == 401
    assert "SENTRY_AUTH_TOKEN" in str(caught.value)
    assert TEST_AUTH_TOKEN not in str(caught.value)

    monkeypatch.delenv(SENTRY_AUTH_TOKEN)
    with pytest.raises(MissingCredential) as missing:
        make_project(fake_sentry, project_slug="ballast-pr-2")
    assert "pulumi config set --secret ballast:sentryAuthToken" in str(missing.value)
    assert "export SENTRY_AUTH_TOKEN" in str(missing.value)

    provider = configured(SentryProjectProvider(FAST_RETRY), {"ballast:sentryAuthToken": TEST_AUTH_TOKEN})
    made = provider.create(project_inputs(fake_sentry, project_slug="ballast-pr-3")).outs or {}
    assert TEST_AUTH_TOKEN not in json.dumps(made)
    assert TEST_AUTH_TOKEN.encode() not in base64.b64decode(serialize_provider(provider))
    provider.delete("ballast-org/ballast-pr-3", made)
    assert "ballast-pr-3" not in fake_sentry.projects


def test_unknown_inputs_are_accepted_and_kept(fake_sentry: FakeSentry) -> None:
    projects, keys = SentryProjectProvider(FAST_RETRY), SentryClientKeyProvider(FAST_RETRY)
    team = Unknown()
    checked = projects.check({}, project_inputs(fake_sentry, team=team, project_slug=Unknown()))
    assert checked.failures == []
    assert checked.inputs["team"] is team
    count = Unknown()
    checked_key = keys.check({}, key_inputs(fake_sentry, project_slug=Unknown(), rate_limit_count=count))
    assert checked_key.failures == []
    assert checked_key.inputs["rate_limit_count"] is count
    outs = make_project(fake_sentry)
    assert projects.diff("x", outs, {**outs, "team": Unknown()}).replaces == ["team"]
    _, key_outs = make_key(fake_sentry)
    assert keys.diff("k", key_outs, {**key_outs, "project_slug": Unknown()}).replaces == ["project_slug"]


def test_the_fake_refuses_paths_and_fields_outside_the_published_spec(fake_sentry: FakeSentry) -> None:
    import requests

    headers = {"Authorization": f"Bearer {TEST_AUTH_TOKEN}"}
    make_project(fake_sentry)
    keys = f"{fake_sentry.base_url}/api/0/projects/ballast-org/ballast-staging/keys/"
    typo = requests.post(keys, json={"name": "k", "rate_limit": {"count": 1}}, headers=headers, timeout=5)
    assert typo.status_code == 400
    undocumented = requests.get(
        f"{fake_sentry.base_url}/api/0/organizations/ballast-org/", headers=headers, timeout=5
    )
    assert undocumented.status_code == 404
    assert len(fake_sentry.violations) == 2
