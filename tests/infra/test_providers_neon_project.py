"""The NeonProject dynamic provider, called as the engine calls it, against the fake Neon held to the spec."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import UNKNOWN as UNKNOWN_OBJECT

from infra.providers.http import ApiError
from infra.providers.neon import NeonConfigError
from infra.providers.neon_client import neon_client
from infra.providers.neon_project import (
    MAX_HISTORY_RETENTION_SECONDS,
    PLAN_HISTORY_LIMITS,
    NeonProjectArgs,
    NeonProjectProvider,
)
from infra.providers.props import UNKNOWN
from runtime.constants import NEON_API_KEY
from tests.fixtures.config import configured
from tests.fixtures.fake_api import FAST_RETRY, Fault
from tests.fixtures.fake_neon import FAST_POLL, TEST_API_KEY, FakeNeon

WEEK = 7 * 86400


@pytest.fixture
def empty_neon(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNeon]:
    """A fake Neon account with no project yet."""
    monkeypatch.setenv(NEON_API_KEY, TEST_API_KEY)
    with FakeNeon(api_key=TEST_API_KEY, project_exists=False) as server:
        yield server


def provider() -> NeonProjectProvider:
    return NeonProjectProvider(FAST_RETRY, FAST_POLL)


def project_inputs(neon: FakeNeon, **overrides: Any) -> dict[str, Any]:
    """Inputs as the engine hands them over (numbers as floats)."""
    props: dict[str, Any] = {
        "project_name": "ballast",
        "region_id": "aws-us-east-2",
        "pg_version": 17.0,
        "history_retention_seconds": float(WEEK),
        "org_id": None,
        "adopt_project_id": None,
        "api_base_url": neon.base_url,
    }
    return {**props, **overrides}


def checked(props: dict[str, Any], checker: NeonProjectProvider | None = None) -> dict[str, Any]:
    result = (checker or provider()).check({}, props)
    assert result.failures == [], [f.reason for f in result.failures]
    return result.inputs


def test_create_read_noop_update_refresh_and_delete_a_project(empty_neon: FakeNeon) -> None:
    neon, p = empty_neon, provider()
    inputs = checked(project_inputs(empty_neon))
    assert (inputs["pg_version"], inputs["history_retention_seconds"]) == (17, WEEK)  # ints, as sent

    created = p.create(inputs)
    outs = created.outs or {}
    project = neon.projects[created.id]
    assert (project.name, project.region_id, project.pg_version) == ("ballast", "aws-us-east-2", 17)
    assert project.history_retention_seconds == WEEK
    post = next(r for r in neon.requests if r.method == "POST")
    assert post.body == {
        "project": {
            "name": "ballast",
            "region_id": "aws-us-east-2",
            "pg_version": 17,
            "history_retention_seconds": WEEK,
        }
    }
    assert outs["default_branch_id"] == neon.default_branch_id
    assert (outs["adopted"], outs["project_id"]) == (False, created.id)
    assert not [op for op in neon.operations.values() if op.status != "finished"]  # waited for them

    assert p.diff(created.id, outs, checked(project_inputs(neon))).changes is False
    read = p.read(created.id, outs)
    assert {k: read.outs[k] for k in outs} == outs  # refresh of an unchanged project: no diff

    shorter = checked(project_inputs(neon, history_retention_seconds=86400.0))
    diff = p.diff(created.id, outs, shorter)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = p.update(created.id, outs, shorter).outs or {}
    assert project.history_retention_seconds == 86400 == updated["history_retention_seconds"]
    patch = [r for r in neon.requests if r.method == "PATCH"][-1]
    assert patch.body == {"project": {"history_retention_seconds": 86400}}

    project.history_retention_seconds = 3600  # drift, changed in the console
    refreshed = p.read(created.id, updated).outs
    assert refreshed["history_retention_seconds"] == 3600
    assert p.diff(created.id, refreshed, shorter).changes is True  # the next up puts it back

    p.delete(created.id, updated)
    assert created.id not in neon.projects
    p.delete(created.id, updated)  # already gone: done
    assert p.read(created.id, updated).id == ""
    assert neon.violations == []


def test_region_or_postgres_version_change_is_a_replacement_never_an_update(fake_neon: FakeNeon) -> None:
    olds = {**checked(project_inputs(fake_neon)), "project_id": "p-1", "adopted": False}
    for key, value in (("region_id", "aws-eu-central-1"), ("pg_version", 16.0)):
        diff = provider().diff("p-1", olds, checked({**olds, key: value}))
        assert diff.replaces == [key]
        assert (
            diff.delete_before_replace is False
        )  # the old project (and its data) stays until the new one is up
    # A first preview with the setting not known yet still says it may replace.
    assert provider().diff("p-1", olds, {**olds, "region_id": UNKNOWN}).replaces == ["region_id"]


def test_adopting_a_project_applies_history_and_never_deletes_it(fake_neon: FakeNeon) -> None:
    p = provider()
    inputs = checked(project_inputs(fake_neon, adopt_project_id=fake_neon.project_id))
    created = p.create(inputs)
    outs = created.outs or {}
    assert (created.id, outs["adopted"]) == (fake_neon.project_id, True)
    assert fake_neon.projects[created.id].history_retention_seconds == WEEK
    assert not [r for r in fake_neon.requests if r.method == "POST"]  # nothing created

    p.delete(created.id, outs)
    p.delete(created.id, {**outs, "adopted": None})  # even with the flag lost, the id says adopted
    assert created.id in fake_neon.projects
    assert not [r for r in fake_neon.requests if r.method == "DELETE"]
    assert fake_neon.violations == []


def test_an_adopted_project_in_another_region_is_refused_with_the_fix(fake_neon: FakeNeon) -> None:
    p = provider()
    wrong = checked(
        project_inputs(fake_neon, adopt_project_id=fake_neon.project_id, region_id="aws-eu-central-1")
    )
    with pytest.raises(NeonConfigError, match=r"region_id is aws-us-east-2.*ballast:neonRegion"):
        p.create(wrong)
    assert not [r for r in fake_neon.requests if r.method in ("PATCH", "POST", "DELETE")]

    outs = p.create(checked(project_inputs(fake_neon, adopt_project_id=fake_neon.project_id))).outs or {}
    newer = checked({**outs, "pg_version": 18.0})
    diff = p.diff(fake_neon.project_id, outs, newer)
    assert (diff.changes, diff.replaces) == (True, [])  # never a replacement of an adopted project
    with pytest.raises(NeonConfigError, match=r"pg_version is 17.*cannot change that in place"):
        p.update(fake_neon.project_id, outs, newer)


def test_adopting_a_missing_project_names_the_setting(fake_neon: FakeNeon) -> None:
    with pytest.raises(NeonConfigError, match=r"no-such-project \(ballast:neonProjectId\) does not exist"):
        provider().create(checked(project_inputs(fake_neon, adopt_project_id="no-such-project")))


def test_a_history_window_beyond_the_plan_is_refused_by_neon_with_its_reason(empty_neon: FakeNeon) -> None:
    month = float(PLAN_HISTORY_LIMITS["scale"])
    with pytest.raises(ApiError, match=r"HTTP 400.*plan's limit"):
        provider().create(checked(project_inputs(empty_neon, history_retention_seconds=month)))
    assert empty_neon.projects == {}


def test_a_lost_create_response_adopts_the_project_it_made(empty_neon: FakeNeon) -> None:
    empty_neon.inject(Fault(kind="drop_after", method="POST", path=r"^/projects$"))
    created = provider().create(checked(project_inputs(empty_neon)))
    assert list(empty_neon.projects) == [created.id]  # one project, not two
    assert empty_neon.violations == []


@pytest.mark.parametrize(
    ("overrides", "prop"),
    [
        ({"region_id": "Frankfurt"}, "region_id"),
        ({"pg_version": 13.0}, "pg_version"),
        ({"pg_version": 17.5}, "pg_version"),
        (
            {"history_retention_seconds": float(MAX_HISTORY_RETENTION_SECONDS + 1)},
            "history_retention_seconds",
        ),
        ({"history_retention_seconds": -1.0}, "history_retention_seconds"),
        ({"project_name": ""}, "project_name"),
        ({"project_name": None}, "project_name"),
        ({"org_id": "Org_1"}, "org_id"),
        ({"adopt_project_id": "Not An Id"}, "adopt_project_id"),
    ],
)
def test_check_refuses_what_neon_would_offline(
    fake_neon: FakeNeon, overrides: dict[str, Any], prop: str
) -> None:
    result = provider().check({}, project_inputs(fake_neon, **overrides))
    assert [f.property for f in result.failures] == [prop]
    assert result.failures[0].reason.startswith(f"{prop}: ")
    assert fake_neon.requests == []


def test_unknown_inputs_of_a_first_preview_pass_check(fake_neon: FakeNeon) -> None:
    for unknown in (UNKNOWN, UNKNOWN_OBJECT):
        result = provider().check({}, project_inputs(fake_neon, project_name=unknown, region_id=unknown))
        assert result.failures == []


def test_the_key_comes_from_configure_never_inputs_or_the_pickle(
    fake_neon: FakeNeon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NEON_API_KEY)
    p = configured(provider(), {"ballast:neonApiKey": TEST_API_KEY})
    created = p.create(checked(project_inputs(fake_neon, adopt_project_id=fake_neon.project_id), p))
    assert TEST_API_KEY not in json.dumps(created.outs)
    pickled = base64.b64decode(serialize_provider(p))  # what the program stores as __provider
    assert TEST_API_KEY.encode() not in pickled
    assert b"infra.providers.neon_project" in pickled  # by reference: this import path must stay
    assert len(pickled) < 1024
    assert not {"api_key", "auth_token"} & {f.name for f in dataclasses.fields(NeonProjectArgs)}


def test_the_fake_holds_project_requests_to_the_spec(fake_neon: FakeNeon) -> None:
    """Region and Postgres version are not in the update schema: the fake refuses them, as a contract test."""
    client = neon_client(base_url=fake_neon.base_url, api_key=TEST_API_KEY, retry=FAST_RETRY, poll=FAST_POLL)
    with client, pytest.raises(ApiError, match=r"HTTP 400"):
        client.update_project(fake_neon.project_id, {"region_id": "aws-eu-central-1"})
    assert any("region_id" in violation for violation in fake_neon.violations)
    assert fake_neon.projects[fake_neon.project_id].region_id == "aws-us-east-2"
