"""The Neon dynamic providers, called directly (as the Pulumi engine would), against the local fake Neon
that checks every request against Neon's published OpenAPI spec (tests/fixtures/specs)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown

from infra.providers.credentials import MissingCredential
from infra.providers.http import ApiError
from infra.providers.neon import (
    NeonBranchProvider,
    NeonConfigError,
    NeonConnectionProvider,
    NeonDatabaseProvider,
    NeonRoleProvider,
    normalize_expiry,
    pooler_host,
    preview_expiry,
)
from infra.providers.neon_client import NeonProvisioningError
from runtime.constants import NEON_API_KEY
from tests.fixtures.config import configured
from tests.fixtures.fake_api import FAST_RETRY, Fault, Reply
from tests.fixtures.fake_neon import FAST_POLL, TEST_API_KEY, FakeNeon
from tests.fixtures.openapi import REPO, Operation


def providers() -> tuple[NeonBranchProvider, NeonRoleProvider, NeonDatabaseProvider, NeonConnectionProvider]:
    return (
        NeonBranchProvider(FAST_RETRY, FAST_POLL),
        NeonRoleProvider(FAST_RETRY, FAST_POLL),
        NeonDatabaseProvider(FAST_RETRY, FAST_POLL),
        NeonConnectionProvider(FAST_RETRY, FAST_POLL),
    )


def branch_inputs(neon: FakeNeon, **overrides: Any) -> dict[str, Any]:
    """Inputs as the engine hands them over: numbers arrive as floats."""
    props: dict[str, Any] = {
        "project_id": neon.project_id,
        "branch_name": "ballast-staging",
        "autoscaling_min_cu": 0.25,
        "autoscaling_max_cu": 1.0,
        "suspend_timeout_seconds": 300.0,
        "api_base_url": neon.base_url,
    }
    props.update(overrides)
    return props


def checked(provider: NeonBranchProvider, props: dict[str, Any]) -> dict[str, Any]:
    result = provider.check({}, props)
    assert result.failures == [], [f.reason for f in result.failures]
    return result.inputs


def create_stage(neon: FakeNeon, **overrides: Any) -> dict[str, Any]:
    branch_provider = providers()[0]
    created = branch_provider.create(checked(branch_provider, branch_inputs(neon, **overrides)))
    assert created.outs is not None
    return created.outs


def test_branch_round_trip_create_read_diff_update_delete(fake_neon: FakeNeon) -> None:
    provider = providers()[0]
    inputs = checked(provider, branch_inputs(fake_neon))
    created = provider.create(inputs)
    outs = created.outs or {}
    branch = fake_neon.branches[created.id]
    endpoint = fake_neon.endpoints[outs["endpoint_id"]]
    assert (branch.name, branch.parent_id) == ("ballast-staging", fake_neon.default_branch_id)
    assert (endpoint.branch_id, endpoint.min_cu, endpoint.max_cu) == (created.id, 0.25, 1.0)
    assert endpoint.suspend_timeout_seconds == 300
    assert outs["host"] == endpoint.host
    assert outs["pooler_host"] == f"{endpoint.id}-pooler.us-east-2.aws.neon.tech"

    # One POST made the branch *and* its compute.
    posts = [r for r in fake_neon.requests if r.method == "POST"]
    assert len(posts) == 1
    assert posts[0].body["endpoints"] == [
        {
            "type": "read_write",
            "autoscaling_limit_min_cu": 0.25,
            "autoscaling_limit_max_cu": 1.0,
            "suspend_timeout_seconds": 300,
        }
    ]

    read = provider.read(created.id, outs)
    assert read.id == created.id
    assert {k: read.outs[k] for k in outs} == outs

    same = provider.diff(created.id, outs, checked(provider, branch_inputs(fake_neon)))
    assert (same.changes, same.replaces) == (False, [])

    news = checked(provider, branch_inputs(fake_neon, autoscaling_max_cu=2.0, branch_name="ballast-stg"))
    bigger = provider.diff(created.id, outs, news)
    assert (bigger.changes, bigger.replaces) == (True, [])
    updated = provider.update(created.id, outs, news).outs or {}
    assert (endpoint.max_cu, branch.name) == (2.0, "ballast-stg")
    assert updated["branch_id"] == created.id
    assert updated["endpoint_id"] == outs["endpoint_id"]

    moved = provider.diff(
        created.id, updated, checked(provider, branch_inputs(fake_neon, parent_id="br-other-1"))
    )
    assert moved.replaces == ["parent_id"]
    assert moved.delete_before_replace is False  # the name changed back: no clash, create first

    provider.delete(created.id, updated)
    assert created.id not in fake_neon.branches
    provider.delete(created.id, updated)  # already gone: done, not an error
    assert provider.read(created.id, updated).id == ""
    assert fake_neon.violations == []


def test_replacement_keeping_the_name_deletes_first(fake_neon: FakeNeon) -> None:
    provider = providers()[0]
    olds = create_stage(fake_neon)
    diff = provider.diff(
        olds["branch_id"], olds, checked(provider, branch_inputs(fake_neon, parent_id="br-x-1"))
    )
    assert diff.replaces == ["parent_id"]
    assert diff.delete_before_replace is True


def test_unknown_inputs_in_preview_are_not_judged_kept_and_force_a_replacement(fake_neon: FakeNeon) -> None:
    """The provider host hands an unknown input over as a ``pulumi.output.Unknown`` object."""
    provider = providers()[0]
    unknown_parent = Unknown()
    result = provider.check(
        {}, branch_inputs(fake_neon, project_id=Unknown(), expires_at=Unknown(), parent_id=unknown_parent)
    )
    assert result.failures == []
    assert result.inputs["parent_id"] is unknown_parent  # kept, never None
    assert isinstance(result.inputs["project_id"], Unknown)
    assert result.inputs["autoscaling_max_cu"] == 1.0  # the known ones are still normalized

    olds = create_stage(fake_neon)
    diff = provider.diff(olds["branch_id"], olds, {**olds, "project_id": Unknown(), "parent_id": Unknown()})
    assert (diff.changes, diff.replaces) == (True, ["project_id", "parent_id"])
    same_parent = provider.diff(olds["branch_id"], olds, dict(olds))
    assert (same_parent.changes, same_parent.replaces) == (False, [])

    roles, databases, connections = providers()[1:]
    assert roles.check({}, {"project_id": "p", "branch_id": Unknown(), "role_name": "app"}).failures == []
    db_news = {"project_id": Unknown(), "branch_id": Unknown(), "database_name": "d", "owner_name": Unknown()}
    assert databases.check({}, db_news).failures == []
    keys = ("project_id", "branch_id", "endpoint_id", "database_name", "role_name", "password_revision")
    assert connections.check({}, dict.fromkeys(keys, Unknown())).failures == []
    role_olds = {"project_id": "p", "branch_id": "br-1", "role_name": "app", "password": "x"}
    moved = roles.diff("br-1/app", role_olds, {"project_id": "p", "branch_id": Unknown(), "role_name": "app"})
    assert moved.replaces == ["branch_id"]
    assert connections.diff(
        "c", {**role_olds, "password_revision": "r1"}, {**role_olds, "password_revision": Unknown()}
    ).changes


@pytest.mark.parametrize(
    ("overrides", "prop", "fragment"),
    [
        ({"protected": True, "expires_at": "+1d"}, "expires_at", "protected branch"),
        (
            {"adopt_default_branch": True, "branch_name": None, "expires_at": "+1d"},
            "expires_at",
            "default branch",
        ),
        ({"expires_at": "+31d"}, "expires_at", "more than 30 days ahead"),
        ({"expires_at": "-1d"}, "expires_at", "not in the future"),
        ({"expires_at": "next tuesday"}, "expires_at", "not an RFC 3339 timestamp"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at", "no time zone"),
        ({"autoscaling_min_cu": 0.125}, "autoscaling_min_cu", "at least 0.25"),
        ({"autoscaling_max_cu": 0.25, "autoscaling_min_cu": 0.5}, "autoscaling_max_cu", "below"),
        ({"suspend_timeout_seconds": 30.0}, "suspend_timeout_seconds", "60 to 604800"),
        ({"adopt_default_branch": True, "parent_id": "br-x-1"}, "parent_id", "adopting"),
        ({"branch_name": None}, "branch_name", "required"),
        ({"project_id": ""}, "project_id", "required"),
        ({"autoscaling_min_cu": "big"}, "autoscaling_min_cu", "must be a number"),
    ],
)
def test_check_refuses_what_neon_would_with_the_property_named(
    fake_neon: FakeNeon, overrides: dict[str, Any], prop: str, fragment: str
) -> None:
    now = datetime.now(UTC)
    shifts = {"+1d": timedelta(days=1), "+31d": timedelta(days=31), "-1d": timedelta(days=-1)}
    if overrides.get("expires_at") in shifts:
        overrides = {**overrides, "expires_at": (now + shifts[overrides["expires_at"]]).isoformat()}
    result = providers()[0].check({}, branch_inputs(fake_neon, **overrides))
    assert prop in [f.property for f in result.failures]
    assert any(fragment in f.reason for f in result.failures), [f.reason for f in result.failures]
    assert fake_neon.requests == []  # decided offline


def test_preview_branch_with_expiry_is_created_normalized_and_can_drop_the_expiry(
    fake_neon: FakeNeon,
) -> None:
    provider = providers()[0]
    expiry = (datetime.now(UTC) + timedelta(days=7)).astimezone(timezone(timedelta(hours=2))).isoformat()
    inputs = checked(provider, branch_inputs(fake_neon, branch_name="ballast-pr-7", expires_at=expiry))
    assert inputs["expires_at"].endswith("Z")
    assert inputs["expires_at"] == normalize_expiry(expiry)
    created = provider.create(inputs)
    outs = created.outs or {}
    assert fake_neon.branches[created.id].expires_at == inputs["expires_at"]
    assert provider.read(created.id, outs).outs["expires_at"] == inputs["expires_at"]

    news = checked(provider, branch_inputs(fake_neon, branch_name="ballast-pr-7"))
    provider.update(created.id, outs, news)
    patch = [r for r in fake_neon.requests if r.method == "PATCH"][-1]
    assert patch.body == {"branch": {"expires_at": None}}
    assert fake_neon.branches[created.id].expires_at is None
    assert fake_neon.violations == []


def test_an_expiry_is_refused_on_a_branch_with_children_before_anything_is_sent(fake_neon: FakeNeon) -> None:
    provider = providers()[0]
    parent = create_stage(fake_neon, branch_name="ballast-staging")
    create_stage(fake_neon, branch_name="ballast-pr-1", parent_id=parent["branch_id"])
    news = checked(
        provider, branch_inputs(fake_neon, branch_name="ballast-staging", expires_at=preview_expiry(3))
    )
    patches_before = sum(1 for r in fake_neon.requests if r.method == "PATCH")
    with pytest.raises(NeonConfigError, match="child branches \\(ballast-pr-1\\)"):
        provider.update(parent["branch_id"], parent, news)
    assert sum(1 for r in fake_neon.requests if r.method == "PATCH") == patches_before


def test_preview_expiry_is_on_the_hour_and_bounded() -> None:
    now = datetime(2026, 3, 1, 10, 42, 7, tzinfo=UTC)
    assert preview_expiry(7, now=now) == "2026-03-08T10:00:00Z"
    with pytest.raises(ValueError, match="1 to 30 days"):
        preview_expiry(31, now=now)


def test_failed_compute_operation_leaves_no_orphan_branch(fake_neon: FakeNeon) -> None:
    fake_neon.fail_operations("start_compute")
    with pytest.raises(NeonProvisioningError) as caught:
        create_stage(fake_neon, branch_name="ballast-pr-9")
    message = str(caught.value)
    assert "start_compute" in message
    assert "failed" in message
    assert "was deleted" in message
    assert fake_neon.branch_named("ballast-pr-9") is None
    assert sorted(b.name for b in fake_neon.branches.values()) == ["main"]


class NoComputeNeon(FakeNeon):
    """A Neon that ignores the endpoints entry (as a branch-only create would): the branch has no compute."""

    def _create_branch(self, op: Operation, params: dict[str, str], query: Any, body: Any) -> Reply:
        return super()._create_branch(op, params, query, {**body, "endpoints": []})


def test_branch_without_compute_is_deleted_before_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NEON_API_KEY, TEST_API_KEY)
    with NoComputeNeon(api_key=TEST_API_KEY) as neon:
        with pytest.raises(NeonProvisioningError, match=r"without a read-write endpoint.*was deleted"):
            create_stage(neon, branch_name="ballast-pr-10")
        assert neon.branch_named("ballast-pr-10") is None


def test_when_cleanup_fails_too_the_error_names_the_branch_to_delete_by_hand(fake_neon: FakeNeon) -> None:
    fake_neon.fail_operations("start_compute")
    fake_neon.inject(Fault(status=500, method="DELETE", path=r"/branches/", times=100))
    with pytest.raises(NeonProvisioningError) as caught:
        create_stage(fake_neon, branch_name="ballast-pr-11")
    left = fake_neon.branch_named("ballast-pr-11")
    assert left is not None
    assert f"deleting the half-made branch {left.id} failed too" in str(caught.value)
    assert "delete it by hand" in str(caught.value)


def test_a_branch_name_already_taken_is_refused_before_creating(fake_neon: FakeNeon) -> None:
    create_stage(fake_neon, branch_name="ballast-staging")
    with pytest.raises(NeonProvisioningError, match="already has a branch named 'ballast-staging'"):
        create_stage(fake_neon, branch_name="ballast-staging")
    assert sum(1 for r in fake_neon.requests if r.method == "POST") == 1


def test_lost_create_response_is_reconciled_by_name_not_created_twice(fake_neon: FakeNeon) -> None:
    fake_neon.inject(Fault(kind="drop_after", method="POST", path=r"/branches$"))
    outs = create_stage(fake_neon, branch_name="ballast-pr-12")
    assert [b.name for b in fake_neon.branches.values()].count("ballast-pr-12") == 1
    assert outs["branch_id"] == fake_neon.branch_named("ballast-pr-12").id  # type: ignore[union-attr]
    assert outs["endpoint_id"] in fake_neon.endpoints


def test_adopting_the_default_branch_applies_settings_and_never_deletes_it(fake_neon: FakeNeon) -> None:
    provider = providers()[0]
    outs = create_stage(fake_neon, adopt_default_branch=True, branch_name=None, protected=True)
    main = fake_neon.branches[fake_neon.default_branch_id]
    assert outs["branch_id"] == main.id
    assert outs["adopted"] is True
    assert outs["is_default"] is True
    assert main.protected is True
    assert fake_neon.endpoints[outs["endpoint_id"]].max_cu == 1.0
    assert not any(r.method == "POST" for r in fake_neon.requests)
    provider.delete(outs["branch_id"], outs)
    assert main.id in fake_neon.branches


def test_role_database_and_connection_on_a_new_branch(fake_neon: FakeNeon) -> None:
    _, roles, databases, connections = providers()
    stage = create_stage(fake_neon)
    base = {
        "project_id": fake_neon.project_id,
        "branch_id": stage["branch_id"],
        "api_base_url": fake_neon.base_url,
    }
    assert roles.check({}, {**base, "role_name": "app"}).failures == []
    role = roles.create({**base, "role_name": "app"})
    role_outs = role.outs or {}
    assert role_outs["password"] == fake_neon.password_of(stage["branch_id"], "app")
    assert role_outs["adopted"] is False

    database = databases.create({**base, "database_name": "app", "owner_name": "app"})
    assert fake_neon.databases[stage["branch_id"]]["app"].owner_name == "app"

    conn_props = {
        **base,
        "endpoint_id": stage["endpoint_id"],
        "database_name": "app",
        "role_name": "app",
        "password_revision": role_outs["password_revision"],
    }
    connection = connections.create(conn_props).outs or {}
    password = role_outs["password"]
    assert connection["pooled_uri"].startswith(f"postgresql://app:{password}@{stage['pooler_host']}/app?")
    assert connection["direct_uri"].startswith(f"postgresql://app:{password}@{stage['host']}/app?")
    uri_request = next(r for r in fake_neon.requests if r.path.endswith("/connection_uri"))
    assert (uri_request.query["branch_id"], uri_request.query["endpoint_id"]) == (
        stage["branch_id"],
        stage["endpoint_id"],
    )

    assert connections.diff("c", connection, {**connection, "password_revision": "later"}).changes is True
    databases.delete(database.id, database.outs or {})
    roles.delete(role.id, role_outs)
    assert "app" not in fake_neon.databases[stage["branch_id"]]
    assert "app" not in fake_neon.roles[stage["branch_id"]]
    roles.delete(role.id, role_outs)  # already gone: done
    assert roles.read(role.id, role_outs).id == ""
    assert fake_neon.violations == []


def test_child_of_a_protected_branch_reads_its_own_role_password(fake_neon: FakeNeon) -> None:
    _, roles, databases, _ = providers()
    production = create_stage(fake_neon, branch_name="ballast-production", protected=True)
    prod_base = {"project_id": fake_neon.project_id, "api_base_url": fake_neon.base_url}
    prod_role = (
        roles.create({**prod_base, "branch_id": production["branch_id"], "role_name": "app"}).outs or {}
    )
    databases.create(
        {**prod_base, "branch_id": production["branch_id"], "database_name": "app", "owner_name": "app"}
    )

    staging = create_stage(fake_neon, branch_name="ballast-staging", parent_id=production["branch_id"])
    staging_role = roles.create({**prod_base, "branch_id": staging["branch_id"], "role_name": "app"})
    staging_outs = staging_role.outs or {}
    assert staging_outs["adopted"] is True  # inherited from production
    assert staging_outs["password"] == fake_neon.password_of(staging["branch_id"], "app")
    assert staging_outs["password"] != prod_role["password"]
    reveal = [r for r in fake_neon.requests if r.path.endswith("/reveal_password")]
    assert reveal
    assert all(r.method == "GET" for r in reveal)  # the spec's method (the official client sends POST)

    database = databases.create(
        {**prod_base, "branch_id": staging["branch_id"], "database_name": "app", "owner_name": "app"}
    )
    assert (database.outs or {})["adopted"] is True
    roles.delete(staging_role.id, staging_outs)  # adopted: left with the branch
    assert "app" in fake_neon.roles[staging["branch_id"]]
    assert fake_neon.violations == []


def test_role_creation_through_the_official_client_is_retried_by_the_shared_session(
    fake_neon: FakeNeon,
) -> None:
    _, roles, _, _ = providers()
    stage = create_stage(fake_neon)
    fault = fake_neon.inject(Fault(status=503, method="POST", path=r"/roles$", times=2))
    base = {
        "project_id": fake_neon.project_id,
        "branch_id": stage["branch_id"],
        "api_base_url": fake_neon.base_url,
    }
    role = roles.create({**base, "role_name": "app"})
    assert fault.hits == 2
    assert (role.outs or {})["password"] == fake_neon.password_of(stage["branch_id"], "app")
    user_agents = {r.headers.get("User-Agent", "") for r in fake_neon.requests if r.path.endswith("/roles")}
    assert any(ua.startswith("neon-client/python") for ua in user_agents)  # it really was the official client


def test_423_while_an_operation_runs_is_waited_out(fake_neon: FakeNeon) -> None:
    fake_neon.background_operation(ticks=4)
    outs = create_stage(fake_neon, branch_name="ballast-pr-13")
    locked = [r for r in fake_neon.requests if r.method == "POST"]
    assert len(locked) > 1  # some POSTs were refused with 423 and retried
    assert outs["branch_id"] in fake_neon.branches


def test_exhausted_retries_fail_with_neon_code_message_and_request_id(fake_neon: FakeNeon) -> None:
    fake_neon.inject(Fault(status=503, code="SERVICE_UNAVAILABLE", message="control plane busy", times=100))
    with pytest.raises(ApiError) as caught:
        create_stage(fake_neon)
    text = str(caught.value)
    assert "Neon API GET /api/v2/projects/" in text
    assert "HTTP 503 SERVICE_UNAVAILABLE: control plane busy" in text
    assert "request_id neon-req-" in text
    assert f"gave up after {FAST_RETRY.max_attempts} attempts" in text


def test_api_key_never_lands_in_outputs_serialized_provider_or_errors(
    fake_neon: FakeNeon, monkeypatch: pytest.MonkeyPatch
) -> None:
    all_providers = providers()
    outs = create_stage(fake_neon)
    assert TEST_API_KEY not in json.dumps(outs)
    for provider in (*all_providers, NeonBranchProvider()):
        pickled = base64.b64decode(serialize_provider(provider))
        assert TEST_API_KEY.encode() not in pickled
        assert b"infra.providers.neon" in pickled
        assert len(pickled) < 1024, "by reference (class name + policies), not the code and its globals"

    monkeypatch.setenv(NEON_API_KEY, TEST_API_KEY + "-revoked")
    with pytest.raises(ApiError) as caught:
        create_stage(fake_neon, branch_name="ballast-pr-14")
    assert caught.value.status == 401
    assert "NEON_API_KEY" in str(caught.value)
    assert TEST_API_KEY not in str(caught.value)

    monkeypatch.delenv(NEON_API_KEY)
    provider = providers()[0]
    inputs = branch_inputs(fake_neon, branch_name="ballast-pr-15")
    [failure] = provider.check({}, inputs).failures  # the preview stops here, with one line
    assert failure.property == ""
    assert "pulumi config set --secret ballast:neonApiKey" in failure.reason
    assert "export NEON_API_KEY" in failure.reason
    with pytest.raises(MissingCredential) as missing:
        provider.create(inputs)
    assert str(missing.value) == failure.reason


def test_the_configured_key_wins_over_the_environment_and_is_never_pickled(
    fake_neon: FakeNeon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NEON_API_KEY, TEST_API_KEY + "-revoked")
    provider = configured(providers()[0], {"ballast:neonApiKey": TEST_API_KEY, "aws:region": "eu-central-1"})
    created = provider.create(checked(provider, branch_inputs(fake_neon)))
    outs = created.outs or {}
    assert TEST_API_KEY not in json.dumps(outs)
    assert TEST_API_KEY.encode() not in base64.b64decode(serialize_provider(provider))
    provider.delete(created.id, outs)
    assert created.id not in fake_neon.branches


def test_a_key_left_in_old_state_forces_an_update_that_drops_it(fake_neon: FakeNeon) -> None:
    """State written before configure() holds ``api_key`` in the outputs: the next up rewrites them."""
    provider = providers()[0]
    outs = create_stage(fake_neon)
    old_state = {**outs, "api_key": TEST_API_KEY}
    news = checked(provider, branch_inputs(fake_neon))
    diff = provider.diff(outs["branch_id"], old_state, news)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(outs["branch_id"], old_state, news).outs or {}
    assert "api_key" not in updated
    refreshed = provider.read(outs["branch_id"], old_state)
    assert "api_key" not in (refreshed.outs or {})
    assert "api_key" not in (refreshed.inputs or {})


def test_serialized_provider_loads_in_a_fresh_interpreter_without_the_key() -> None:
    blob = serialize_provider(NeonBranchProvider(FAST_RETRY, FAST_POLL))
    script = (
        "import base64, sys, dill; p = dill.loads(base64.b64decode(sys.argv[1])); "
        "print(type(p).__name__, p.retry.max_attempts, p.poll.timeout_seconds)"
    )
    env = {"PATH": "/usr/bin:/bin"}  # no NEON_API_KEY: loading must not need it
    done = subprocess.run(
        [sys.executable, "-c", script, blob], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [
        "NeonBranchProvider",
        str(FAST_RETRY.max_attempts),
        str(FAST_POLL.timeout_seconds),
    ]


def test_pooler_host_inserts_pooler_after_the_endpoint_id() -> None:
    assert (
        pooler_host("ep-cool-1.eu-central-1.aws.neon.tech") == "ep-cool-1-pooler.eu-central-1.aws.neon.tech"
    )
    with pytest.raises(NeonProvisioningError):
        pooler_host("localhost")


def test_the_fake_refuses_bodies_outside_the_published_schema(fake_neon: FakeNeon) -> None:
    """Guard for the guard: a typo in a request body must fail, not pass an open schema."""
    import requests

    response = requests.post(
        f"{fake_neon.base_url}/projects/{fake_neon.project_id}/branches",
        json={"branch": {"name": "x"}, "endpoints": [{"type": "read_write", "autoscaling_min_cu": 1}]},
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert any("autoscaling_min_cu" in v for v in fake_neon.violations)
    response = requests.post(
        f"{fake_neon.base_url}/projects/{fake_neon.project_id}/branches/{fake_neon.default_branch_id}"
        "/roles/neondb_owner/reveal_password",
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 405  # the spec has GET only
