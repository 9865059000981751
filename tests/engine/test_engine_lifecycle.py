"""The staging stack's dynamic resources through a whole life, run the way the Pulumi engine runs them.

The program runs in the language host's exec step (``launch.py program``: the project's venv, the
repository root as working directory and entry point ``.``) against :mod:`tests.engine.engine`'s resource
monitor over real gRPC; the SDK's own provider host (``python -m pulumi.dynamic``, started by ``launch.py
provider`` from the program directory, virtualenv resolved like the engine does) is driven over gRPC against
the fake Neon and Sentry APIs, configured the way the engine configures it — credentials in the stack config
only, none in this process's environment. Phases, in order (one module-scoped fixture; each test checks one
phase):

first preview → up → no-op preview → update (preview, then up) → refresh with drift → destroy, then a
second ``up`` and the same Read/Delete from a *fresh* provider host, with the ``__provider`` from state.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi.runtime.proto import provider_pb2

from tests.engine.conftest import CREDENTIALS, Fakes, stack_config
from tests.engine.engine import (
    UNKNOWN,
    Deployment,
    Diff,
    Project,
    Resource,
    Run,
    is_secret,
    provider_host,
)

STACK = "staging"
DYNAMIC_TYPES = (
    "neon:Branch",
    "neon:Role",
    "neon:Database",
    "neon:Connection",
    "sentry:Project",
    "sentry:ClientKey",
    "sentry:MetricMonitor",  # the stage's Sentry alerts: error-count monitor,
    "sentry:Alert",  # the new-issue alert,
    "sentry:Alert",  # and the alert on the monitor's issues
    "ballast:SchemaMigrations",
)
DEPENDENTS_OF_THE_BRANCH = ("neon:Role", "neon:Database", "neon:Connection")  # named by its id / outputs


@dataclass
class Life:
    """What each phase produced, for the tests to check."""

    first_preview: Run
    up: Run
    noop_preview: Run
    update_preview: Run
    update_up: Run
    refresh: dict[str, Diff]
    refreshed: dict[str, Resource]
    destroyed: list[str]
    left_after_destroy: tuple[list[str], list[str]]
    second_state: dict[str, Resource]
    fresh_reads: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None]]
    fresh_deleted: list[str]
    left_after_fresh_destroy: tuple[list[str], list[str]]
    role_posts: dict[str, int] = field(default_factory=dict)
    migrated_tables: list[str] = field(default_factory=list)


def _left(fakes: Fakes) -> tuple[list[str], list[str]]:
    return sorted(b.name for b in fakes.neon.branches.values()), sorted(fakes.sentry.projects)


def _role_posts(fakes: Fakes) -> int:
    return sum(1 for r in fakes.neon.requests if r.method == "POST" and r.path.endswith("/roles"))


def _checked(run: Run, label: str) -> Run:
    completed = run.completed
    assert completed is not None
    assert completed.returncode == 0, f"{label}: {completed.stderr[-4000:]}\n{run.errors()}"
    assert run.errors() == [], label
    return run


def _tables_of_the_branch(fakes: Fakes, deployment: Deployment) -> list[str]:
    """The tables in the real database behind the stage branch's direct URI (see ``PointInTimeNeon``)."""
    import psycopg

    branch = next(r for r in deployment.state.values() if r.type.endswith("neon:Branch"))
    real = fakes.neon.real_database_of(branch.outputs["branch_id"])  # type: ignore[attr-defined]
    assert real is not None
    url = fakes.neon.postgres.url(database=real)  # type: ignore[attr-defined]
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return sorted(str(r[0]) for r in rows if not str(r[0]).startswith(("_yoyo", "yoyo")))


@pytest.fixture(scope="module")
def life(project: Project, fakes: Fakes) -> Life:
    config = stack_config(project, STACK, fakes)
    secret_keys = frozenset(CREDENTIALS)
    references = {"production": {"neonProjectId": fakes.neon.project_id}}
    with provider_host(project, config, secret_keys) as host:
        deployment = Deployment(project, STACK, config, secret_keys, host, references)
        first_preview = _checked(deployment.run(preview=True), "first preview")
        up = _checked(deployment.run(preview=False), "up")
        noop = _checked(deployment.run(preview=True), "no-op preview")
        role_posts = {"after up": _role_posts(fakes)}
        migrated_tables = _tables_of_the_branch(fakes, deployment)

        deployment.config = stack_config(project, STACK, fakes, **{"ballast:computeMaxCu": "2"})
        update_preview = _checked(deployment.run(preview=True), "update preview")
        update_up = _checked(deployment.run(preview=False), "update up")
        role_posts["after update"] = _role_posts(fakes)

        # Drift made outside Pulumi: the compute resized in the console, the Sentry project renamed.
        branch = next(r for r in deployment.state.values() if r.type.endswith("neon:Branch"))
        fakes.neon.endpoints[branch.outputs["endpoint_id"]].max_cu = 4.0
        fakes.sentry.projects["ballast-staging"].name = "Renamed in the Sentry UI"
        refresh = deployment.refresh()
        refreshed = dict(deployment.state)

        destroyed = deployment.destroy()
        left_after_destroy = _left(fakes)

        # A second `up` recreates the stack; then this provider host goes away.
        deployment.config = config
        _checked(deployment.run(preview=False), "second up")
        second_state = dict(deployment.state)

    # A fresh provider host (a later `pulumi refresh` / `destroy`): everything from the stored state only.
    with provider_host(project, config, secret_keys) as fresh:
        later = Deployment(project, STACK, config, secret_keys, fresh, references, state=dict(second_state))
        fresh_reads = {
            urn: fresh.read(resource.id, urn, resource.outputs, resource.inputs)
            for urn, resource in second_state.items()
        }
        fresh_deleted = later.destroy()
    return Life(
        first_preview,
        up,
        noop,
        update_preview,
        update_up,
        refresh,
        refreshed,
        destroyed,
        left_after_destroy,
        second_state,
        fresh_reads,
        fresh_deleted,
        _left(fakes),
        role_posts,
        migrated_tables,
    )


def test_first_preview_checks_every_dynamic_resource_with_unknowns_and_creates_nothing(
    life: Life, fakes: Fakes
) -> None:
    run = life.first_preview
    assert sorted(r.type.removeprefix("pulumi-python:dynamic/") for r in run.registrations) == sorted(
        DYNAMIC_TYPES
    )
    assert all(step.op == "create" for step in run.steps)
    assert run.failures == {}
    for suffix in DEPENDENTS_OF_THE_BRANCH:  # the branch does not exist yet: its id is unknown
        registration = next(r for r in run.registrations if r.type.endswith(suffix))
        assert registration.object["branch_id"] == UNKNOWN
        assert run.step(suffix).checked["branch_id"] == UNKNOWN  # Check kept it unknown, not None
    assert run.step("sentry:ClientKey").checked["project_slug"] == "ballast-staging"
    assert life.role_posts["after up"] == 1  # the preview itself sent nothing to Neon (the up made one role)


def test_up_creates_everything_through_the_provider_host(life: Life, fakes: Fakes) -> None:
    run = life.up
    assert [step.op for step in run.steps] == ["create"] * len(DYNAMIC_TYPES)
    branch = run.step("neon:Branch")
    assert branch.checked["project_id"] == fakes.neon.project_id
    role = next(r for r in run.registrations if r.type.endswith("neon:Role"))
    assert role.object["branch_id"].startswith("br-")  # known during up: the program waited for the branch
    key = next(r for r in run.registrations if r.type.endswith("sentry:ClientKey"))
    assert is_secret(key.object["__provider"])  # the SDK sends the pickled provider as a secret
    # The migrations ran in the provider host over the branch's direct URL, before the function: the
    # branch's real database holds the schema, and the function's environment its version.
    migrations = run.step("ballast:SchemaMigrations")
    assert migrations.op == "create"
    assert life.migrated_tables == ["items"]


def test_no_op_preview_diffs_none_for_every_dynamic_resource(life: Life) -> None:
    run = life.noop_preview
    assert len(run.steps) == len(DYNAMIC_TYPES)
    for step in run.steps:
        assert step.diff is not None
        assert step.diff.changes == provider_pb2.DiffResponse.DIFF_NONE, step.urn
        assert step.op == "same"


def test_update_preview_shows_the_update_and_replaces_nothing(life: Life, fakes: Fakes) -> None:
    preview = life.update_preview
    branch = preview.step("neon:Branch")
    assert (branch.op, branch.diff and branch.diff.replaces) == ("update", ())
    # In a preview the engine hands back a dynamic resource's new inputs as its outputs: the branch's
    # computed outputs are unknown downstream, its resource id is not. The role and database name the branch
    # by that id, so they stay unchanged; the connection (nothing at Neon to replace) refetches.
    for suffix in ("neon:Role", "neon:Database"):
        step = preview.step(suffix)
        assert step.checked["branch_id"].startswith("br-"), suffix
        assert step.op == "same", suffix
    connection = preview.step("neon:Connection")
    assert connection.checked["endpoint_id"] == UNKNOWN  # an output of the branch being updated
    assert connection.op == "update"
    assert connection.diff is not None
    assert connection.diff.replaces == ()
    # The up that follows: one update, nothing replaced or recreated.
    changed = {s.urn.split("::")[-1]: s.op for s in life.update_up.steps if s.op != "same"}
    assert changed == {"ballast-staging-db-branch": "update"}
    assert life.role_posts["after update"] == life.role_posts["after up"]


def test_refresh_reads_drift_into_outputs_and_inputs(life: Life) -> None:
    branch = next(r for r in life.refreshed.values() if r.type.endswith("neon:Branch"))
    assert branch.outputs["autoscaling_max_cu"] == 4.0
    assert branch.inputs["autoscaling_max_cu"] == 4.0  # Read returned inputs: the next up diffs against them
    assert "branch_id" not in branch.inputs  # inputs are the input properties, not the computed outputs
    project = next(r for r in life.refreshed.values() if r.type.endswith("sentry:Project"))
    assert project.outputs["project_name"] == "Renamed in the Sentry UI"
    drifted = {urn.split("::")[-1] for urn, diff in life.refresh.items() if diff.some}
    assert drifted == {"ballast-staging-db-branch", "ballast-staging-sentry-project"}


def test_destroy_deletes_every_dynamic_resource(life: Life, fakes: Fakes) -> None:
    assert len(life.destroyed) == len(DYNAMIC_TYPES)
    order = [urn.split("::")[-1] for urn in life.destroyed]
    for dependent in ("role", "database", "connection"):  # dependents first, the branch last of them
        assert order.index(f"ballast-staging-db-{dependent}") < order.index("ballast-staging-db-branch")
    assert order.index("ballast-staging-sentry-key") < order.index("ballast-staging-sentry-project")
    assert life.left_after_destroy == (["main"], [])
    assert fakes.neon.violations == []
    assert fakes.sentry.violations == []


def test_a_fresh_host_reads_and_deletes_with_the_provider_from_state(life: Life) -> None:
    assert len(life.second_state) == len(DYNAMIC_TYPES)
    for urn, (resource_id, outputs, inputs) in life.fresh_reads.items():
        stored = life.second_state[urn]
        assert resource_id == stored.id
        assert outputs["__provider"] == stored.outputs["__provider"]
        assert inputs is not None
    assert sorted(life.fresh_deleted) == sorted(life.second_state)
    assert life.left_after_fresh_destroy == (["main"], [])


def test_no_credential_in_any_registration_input_output_or_pickled_provider(life: Life) -> None:
    runs = (life.first_preview, life.up, life.noop_preview, life.update_preview, life.update_up)
    texts = [json.dumps(r.object) for run in runs for r in run.registrations]
    texts += [json.dumps(step.checked) for run in runs for step in run.steps]
    for state in (life.refreshed, life.second_state):
        texts += [json.dumps([r.inputs, r.outputs]) for r in state.values()]
    texts += [json.dumps(read) for read in life.fresh_reads.values()]
    pickles = [base64.b64decode(r.outputs["__provider"]) for r in life.second_state.values()]
    assert len(texts) > 40
    assert len(pickles) == len(DYNAMIC_TYPES)
    for credential in CREDENTIALS.values():
        assert not [t for t in texts if credential in t]
        assert not [p for p in pickles if credential.encode() in p]
    for run in runs:
        for registration in run.registrations:
            assert not {"api_key", "auth_token"} & set(registration.object)


def test_a_first_production_preview_accepts_the_unknown_project_id(project: Project, fakes: Fakes) -> None:
    """Production creates its Neon project: in the first preview its id is unknown to the branch."""
    config = stack_config(project, "production", fakes)
    with provider_host(project, config, frozenset(CREDENTIALS)) as host:
        deployment = Deployment(project, "production", config, frozenset(CREDENTIALS), host)
        run = _checked(deployment.run(preview=True), "production preview")
    branch = run.step("neon:Branch")
    assert branch.op == "create"
    assert branch.checked["project_id"] == UNKNOWN
    assert branch.checked["adopt_default_branch"] is True
    assert "parent_id" not in branch.checked  # the default branch has no parent: absent, not None
    assert run.failures == {}
    assert len(run.registrations) == len(DYNAMIC_TYPES) + 1  # and the NeonProject itself
