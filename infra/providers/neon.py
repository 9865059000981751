"""Pulumi dynamic providers for Neon: a branch with its read-write endpoint, a role, a database, and the
pooled/direct connection URIs — over Neon API v2 (see ``neon_client`` for where the official client fits).

Resource types (``pulumi-python:dynamic/neon:<Name>``): ``Branch``, ``Role``, ``Database``, ``Connection``.

The API key and Pulumi state
    Dynamic providers are pickled into the state (the ``__provider`` input) by reference (class path plus
    their retry/poll policies), so the classes keep their import paths. The key is never an input, an
    output or a pickled attribute: the engine hands the stack's config to ``configure()``
    (``ballast:neonApiKey``), else ``NEON_API_KEY`` is read at call time (``infra.providers.credentials``).

Operations
    Every mutation's operations are polled until ``finished`` (bounded, ``PollPolicy``); 423/429/5xx are
    retried by the shared helper (``infra.providers.http``). A branch whose operations or endpoint fail is
    deleted before the error is raised, so no orphan is left; a create whose response was lost is
    reconciled by looking the branch up by name (checked to be free beforehand).

Adopting the default branch (production on the project's primary branch)
    ``adopt_default_branch=True`` takes over the project's default branch and its read-write endpoint
    instead of creating a branch: autoscaling, suspend timeout and ``protected`` are applied to it; delete
    releases it untouched. Roles and databases that already exist on a branch (inherited from the parent,
    or present on an adopted branch) are adopted the same way and likewise left in place on delete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pulumi
import pulumi.dynamic as dyn

from infra.providers.credentials import NEON_API_KEY, CredentialedProvider
from infra.providers.http import NotFound, RetryPolicy, recover_create
from infra.providers.neon_client import (
    NEON_API_BASE_URL,
    NeonClient,
    NeonProvisioningError,
    Operations,
    PollPolicy,
    neon_client,
)
from infra.providers.props import (
    diff_keys,
    is_unknown,
    keep_unknowns,
    optional_text,
    read_inputs,
    required_failures,
    stored,
    with_secret_outputs,
)

MIN_COMPUTE_UNITS = 0.25
MAX_EXPIRY = timedelta(days=30)
SUSPEND_TIMEOUT_RANGE = (60, 604800)  # plus 0 (Neon's default) and -1 (never suspend)
_RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


class NeonConfigError(ValueError):
    """Settings Neon would refuse; the message names the property (or lists every problem)."""

    def __init__(self, message: str, *, prop: str = "") -> None:
        super().__init__(message)
        self.prop = prop


# Validation shared by check() and the Database component ------------------------------------------------


def normalize_expiry(value: str) -> str:
    """An RFC 3339 timestamp with an offset, as UTC with second precision (``2025-06-09T18:02:16Z``)."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"expires_at {value!r} is not an RFC 3339 timestamp such as 2025-06-09T18:02:16Z"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"expires_at {value!r} has no time zone: end it with Z or an offset")
    return when.astimezone(UTC).strftime(_RFC3339)


def preview_expiry(days: int, *, now: datetime | None = None) -> str:
    """``expires_at`` for a preview branch ``days`` ahead (1 to 30), on the hour so plans stay stable."""
    if not 1 <= days <= MAX_EXPIRY.days:
        raise ValueError(f"a preview branch lives 1 to {MAX_EXPIRY.days} days (got {days})")
    when = (now or datetime.now(UTC)).astimezone(UTC) + timedelta(days=days)
    return when.replace(minute=0, second=0, microsecond=0).strftime(_RFC3339)


def branch_settings_problems(
    *,
    branch_name: str | None,
    adopt_default_branch: bool,
    parent_id: str | None,
    protected: bool,
    expires_at: str | None,
    autoscaling_min_cu: float,
    autoscaling_max_cu: float,
    suspend_timeout_seconds: int,
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Every (property, reason) Neon would refuse, decided offline. Unknown (preview) values are skipped."""
    problems: list[tuple[str, str]] = []
    if adopt_default_branch and parent_id is not None:
        problems.append(
            ("parent_id", "cannot set a parent branch when adopting the project's default branch")
        )
    if not adopt_default_branch and not branch_name:
        problems.append(("branch_name", "a branch name is required unless the default branch is adopted"))
    if branch_name and not is_unknown(branch_name) and len(branch_name) > 256:
        problems.append(("branch_name", "a Neon branch name has at most 256 characters"))
    if autoscaling_min_cu < MIN_COMPUTE_UNITS:
        problems.append(("autoscaling_min_cu", f"must be at least {MIN_COMPUTE_UNITS} CU"))
    if autoscaling_max_cu < autoscaling_min_cu:
        problems.append(("autoscaling_max_cu", "must not be below autoscaling_min_cu"))
    low, high = SUSPEND_TIMEOUT_RANGE
    if suspend_timeout_seconds not in (-1, 0) and not low <= suspend_timeout_seconds <= high:
        problems.append(
            ("suspend_timeout_seconds", f"must be -1 (never), 0 (Neon's default) or {low} to {high}")
        )
    if expires_at is not None and not is_unknown(expires_at):
        problems.extend(
            ("expires_at", p) for p in _expiry_problems(expires_at, protected, adopt_default_branch, now)
        )
    return problems


def _expiry_problems(
    expires_at: str, protected: bool, default_branch: bool, now: datetime | None
) -> list[str]:
    problems: list[str] = []
    if protected:
        problems.append("Neon does not allow an expiry on a protected branch")
    if default_branch:
        problems.append("Neon does not allow an expiry on the project's default branch")
    try:
        when = datetime.fromisoformat(normalize_expiry(expires_at))
    except ValueError as exc:
        return [*problems, str(exc)]
    current = now or datetime.now(UTC)
    if when <= current:
        problems.append(f"{expires_at} is not in the future")
    elif when - current > MAX_EXPIRY:
        problems.append(f"{expires_at} is more than {MAX_EXPIRY.days} days ahead")
    return problems


# Property bags --------------------------------------------------------------------------------------------


def _text(props: Mapping[str, Any], key: str) -> str:
    """A required string; an unknown one (preview) is the ``UNKNOWN`` sentinel, judged once known."""
    value = optional_text(props, key)
    if value is None:
        raise NeonConfigError(f"{key} is required", prop=key)
    return value


def _number(props: Mapping[str, Any], key: str, default: float) -> float:
    value = props.get(key, default)
    if value is None or is_unknown(value):
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NeonConfigError(f"{key} must be a number", prop=key)
    return float(value)


def _expiry(props: Mapping[str, Any]) -> str | None:
    value = optional_text(props, "expires_at")
    if value is None or is_unknown(value):
        return value
    try:
        return normalize_expiry(value)
    except ValueError as exc:
        raise NeonConfigError(str(exc), prop="expires_at") from None


def _flag(props: Mapping[str, Any], key: str) -> bool:
    value = props.get(key, False)
    return False if is_unknown(value) else bool(value)


@dataclass(frozen=True)
class BranchSettings:
    """A NeonBranch's inputs, typed (Pulumi hands numbers over as floats)."""

    project_id: str
    branch_name: str | None
    parent_id: str | None
    adopt_default_branch: bool
    protected: bool
    expires_at: str | None
    autoscaling_min_cu: float
    autoscaling_max_cu: float
    suspend_timeout_seconds: int
    api_base_url: str

    @staticmethod
    def from_props(props: Mapping[str, Any]) -> BranchSettings:
        """Typed settings; raises :class:`NeonConfigError` naming the property that cannot be read."""
        suspend = _number(props, "suspend_timeout_seconds", 0)
        if suspend != int(suspend):
            raise NeonConfigError(
                "suspend_timeout_seconds must be a whole number", prop="suspend_timeout_seconds"
            )
        return BranchSettings(
            project_id=_text(props, "project_id"),
            branch_name=optional_text(props, "branch_name"),
            parent_id=optional_text(props, "parent_id"),
            adopt_default_branch=_flag(props, "adopt_default_branch"),
            protected=_flag(props, "protected"),
            expires_at=_expiry(props),
            autoscaling_min_cu=_number(props, "autoscaling_min_cu", MIN_COMPUTE_UNITS),
            autoscaling_max_cu=_number(props, "autoscaling_max_cu", MIN_COMPUTE_UNITS),
            suspend_timeout_seconds=int(suspend),
            api_base_url=optional_text(props, "api_base_url") or NEON_API_BASE_URL,
        )

    def to_props(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "branch_name": self.branch_name,
            "parent_id": self.parent_id,
            "adopt_default_branch": self.adopt_default_branch,
            "protected": self.protected,
            "expires_at": self.expires_at,
            "autoscaling_min_cu": self.autoscaling_min_cu,
            "autoscaling_max_cu": self.autoscaling_max_cu,
            "suspend_timeout_seconds": self.suspend_timeout_seconds,
            "api_base_url": self.api_base_url,
        }

    def endpoint_fields(self) -> dict[str, Any]:
        return {
            "autoscaling_limit_min_cu": self.autoscaling_min_cu,
            "autoscaling_limit_max_cu": self.autoscaling_max_cu,
            "suspend_timeout_seconds": self.suspend_timeout_seconds,
        }

    def create_body(self) -> dict[str, Any]:
        """One POST makes the branch *and* its read-write endpoint (without ``endpoints``: no compute)."""
        branch: dict[str, Any] = {"name": self.branch_name, "protected": self.protected}
        if self.parent_id:
            branch["parent_id"] = self.parent_id
        if self.expires_at:
            branch["expires_at"] = self.expires_at
        return {"branch": branch, "endpoints": [{"type": "read_write", **self.endpoint_fields()}]}

    def problems(self) -> list[tuple[str, str]]:
        return branch_settings_problems(
            branch_name=self.branch_name,
            adopt_default_branch=self.adopt_default_branch,
            parent_id=self.parent_id,
            protected=self.protected,
            expires_at=self.expires_at,
            autoscaling_min_cu=self.autoscaling_min_cu,
            autoscaling_max_cu=self.autoscaling_max_cu,
            suspend_timeout_seconds=self.suspend_timeout_seconds,
        )


def pooler_host(host: str) -> str:
    """Neon's pooled (PgBouncer) host: ``-pooler`` appended to the endpoint id, the first host label."""
    endpoint_label, dot, rest = host.partition(".")
    if not dot or not endpoint_label:
        raise NeonProvisioningError(
            f"Neon endpoint host {host!r} is not of the form <endpoint-id>.<region domain>"
        )
    return f"{endpoint_label}-pooler.{rest}"


# Providers ------------------------------------------------------------------------------------------------


class _NeonProvider(CredentialedProvider):
    """Pickled into the state with its policies only; the API key comes in ``configure()`` (never pickled)."""

    CREDENTIAL = NEON_API_KEY

    def __init__(self, retry: RetryPolicy | None = None, poll: PollPolicy | None = None) -> None:
        super().__init__()
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()

    def _client(self, props: Mapping[str, Any]) -> NeonClient:
        base_url = optional_text(props, "api_base_url") or NEON_API_BASE_URL
        return neon_client(base_url=base_url, api_key=self.credential(), retry=self.retry, poll=self.poll)


class NeonBranchProvider(_NeonProvider):
    """A branch and its read-write endpoint (or the adopted default branch). The ID is the branch id."""

    REPLACE_KEYS = ("project_id", "adopt_default_branch", "parent_id")
    UPDATE_KEYS = (
        "branch_name",
        "protected",
        "expires_at",
        "autoscaling_min_cu",
        "autoscaling_max_cu",
        "suspend_timeout_seconds",
        "api_base_url",
    )
    INPUT_KEYS = (*REPLACE_KEYS, *UPDATE_KEYS)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        try:
            settings = BranchSettings.from_props(news)
        except NeonConfigError as exc:
            return dyn.CheckResult(news, [*self.credential_failures(), dyn.CheckFailure(exc.prop, str(exc))])
        failures = self.credential_failures()
        failures += [dyn.CheckFailure(prop, reason) for prop, reason in settings.problems()]
        if failures:
            return dyn.CheckResult(news, failures)
        # Normalized (typed numbers, UTC expiry); an unknown value is handed back as it came, never None.
        return dyn.CheckResult(keep_unknowns(news, settings.to_props()), [])

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        settings = BranchSettings.from_props(props)
        _raise_problems(settings.problems())
        with self._client(props) as neon:
            if settings.adopt_default_branch:
                outputs = self._adopt_default(neon, settings)
            else:
                outputs = self._create_branch(neon, settings)
        return dyn.CreateResult(outputs["branch_id"], {**settings.to_props(), **outputs})

    def _create_branch(self, neon: NeonClient, settings: BranchSettings) -> dict[str, Any]:
        project, name = settings.project_id, settings.branch_name or ""
        existing = neon.find_branch_by_name(project, name)
        if existing is not None:
            raise NeonProvisioningError(
                f"Neon project {project} already has a branch named {name!r} ({existing.get('id')}): "
                "choose another branch_name, or delete that branch if it was left behind"
            )
        created = recover_create(
            lambda: neon.create_branch(project, settings.create_body()),
            lambda: _recover_branch(neon, project, name),
        )
        branch = created.get("branch") or {}
        branch_id = str(branch.get("id", ""))
        try:
            neon.wait(project, Operations.of(created.get("operations") or []))
            endpoint = next(
                (e for e in created.get("endpoints") or [] if e.get("type") == "read_write"), None
            )
            if endpoint is None:
                raise NeonProvisioningError(f"Neon created branch {branch_id} without a read-write endpoint")
            return _branch_outputs(branch, endpoint, adopted=False)
        except Exception as exc:
            _discard_branch(neon, project, branch_id, name, exc)

    def _adopt_default(self, neon: NeonClient, settings: BranchSettings) -> dict[str, Any]:
        project = settings.project_id
        branch = neon.default_branch(project)
        branch_id = str(branch["id"])
        endpoint = neon.read_write_endpoint(project, branch_id)
        if endpoint is None:
            raise NeonProvisioningError(
                f"the default branch {branch_id} of Neon project {project} has no read-write endpoint to "
                "adopt: add one in the Neon console (or let Ballast create its own branch)"
            )
        endpoint = _apply_endpoint_settings(neon, project, endpoint, settings)
        if bool(branch.get("protected")) != settings.protected:
            branch = neon.update_branch(project, branch_id, {"protected": settings.protected}) or branch
        return _branch_outputs(branch, endpoint, adopted=True)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        project = _text(props, "project_id")
        with self._client(props) as neon:
            try:
                branch = neon.get_branch(project, id_)
            except NotFound:
                return dyn.ReadResult("", {})
            endpoint = neon.read_write_endpoint(project, id_)
        if endpoint is None:
            raise NeonProvisioningError(f"Neon branch {id_} has lost its read-write endpoint")
        live = {
            "protected": bool(branch.get("protected")),
            "expires_at": _normalized_or_none(branch.get("expires_at")),
            "autoscaling_min_cu": float(endpoint.get("autoscaling_limit_min_cu", MIN_COMPUTE_UNITS)),
            "autoscaling_max_cu": float(endpoint.get("autoscaling_limit_max_cu", MIN_COMPUTE_UNITS)),
            "suspend_timeout_seconds": int(endpoint.get("suspend_timeout_seconds", 0)),
        }
        if not props.get("adopt_default_branch"):
            live["branch_name"] = branch.get("name")
        adopted = bool(props.get("adopted", False))
        outs = stored({**props, **live, **_branch_outputs(branch, endpoint, adopted=adopted)})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        update: tuple[str, ...] = self.UPDATE_KEYS
        if news.get("adopt_default_branch"):
            update = tuple(k for k in update if k != "branch_name")
        result = diff_keys(olds, news, replace=self.REPLACE_KEYS, update=update)
        # Branch names are unique in a project: a replacement keeping the name must delete first.
        same_name = olds.get("branch_name") == news.get("branch_name")
        result.delete_before_replace = bool(result.replaces) and same_name
        return result

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        old, new = BranchSettings.from_props(olds), BranchSettings.from_props(news)
        _raise_problems(new.problems())
        project = new.project_id
        computed = ("branch_id", "endpoint_id", "host", "pooler_host", "is_default", "adopted")
        outputs: dict[str, Any] = {k: olds[k] for k in computed if k in olds}
        with self._client(news) as neon:
            fields: dict[str, Any] = {}
            if not new.adopt_default_branch and new.branch_name != old.branch_name:
                fields["name"] = new.branch_name
            if new.protected != old.protected:
                fields["protected"] = new.protected
            if new.expires_at != old.expires_at:
                if new.expires_at:
                    _refuse_expiry_with_children(neon, project, id_)
                fields["expires_at"] = new.expires_at  # None removes the expiry
            if fields:
                neon.update_branch(project, id_, fields)
            if new.endpoint_fields() != old.endpoint_fields():
                neon.update_endpoint(project, str(olds["endpoint_id"]), new.endpoint_fields())
        return dyn.UpdateResult({**new.to_props(), **outputs})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return  # the project's default branch is released, never deleted
        with self._client(props) as neon:
            neon.delete_branch(_text(props, "project_id"), id_)


def _recover_branch(neon: NeonClient, project: str, name: str) -> dict[str, Any] | None:
    """After a lost create response: the branch by name (it was free before), its endpoints and operations."""
    branch = neon.find_branch_by_name(project, name)
    if branch is None:
        return None
    branch_id = str(branch["id"])
    return {
        "branch": branch,
        "endpoints": neon.branch_endpoints(project, branch_id),
        "operations": neon.branch_operations(project, branch_id),
    }


def _discard_branch(neon: NeonClient, project: str, branch_id: str, name: str, cause: Exception) -> NoReturn:
    """Delete a half-made branch, then raise an error that says whether anything was left behind."""
    try:
        neon.delete_branch(project, branch_id)
    except Exception as cleanup:
        raise NeonProvisioningError(
            f"creating Neon branch {name!r} failed ({cause}); deleting the half-made branch {branch_id} "
            f"failed too ({cleanup}): delete it by hand in project {project}"
        ) from None
    raise NeonProvisioningError(
        f"creating Neon branch {name!r} failed ({cause}); the half-made branch {branch_id} was deleted"
    ) from None


def _refuse_expiry_with_children(neon: NeonClient, project: str, branch_id: str) -> None:
    children = neon.child_branches(project, branch_id)
    if children:
        names = ", ".join(str(c.get("name") or c.get("id")) for c in children)
        raise NeonConfigError(
            f"Neon does not allow an expiry on branch {branch_id}: it has child branches ({names})"
        )


def _apply_endpoint_settings(
    neon: NeonClient, project: str, endpoint: dict[str, Any], settings: BranchSettings
) -> dict[str, Any]:
    wanted = settings.endpoint_fields()
    current = {k: endpoint.get(k) for k in wanted}
    if all(_same_number(current[k], v) for k, v in wanted.items()):
        return endpoint
    return neon.update_endpoint(project, str(endpoint["id"]), wanted) or endpoint


def _same_number(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and float(a) == float(b)


def _branch_outputs(
    branch: Mapping[str, Any], endpoint: Mapping[str, Any], *, adopted: bool
) -> dict[str, Any]:
    host = str(endpoint.get("host") or "")
    return {
        "branch_id": str(branch.get("id", "")),
        "endpoint_id": str(endpoint.get("id", "")),
        "host": host,
        "pooler_host": pooler_host(host),
        "is_default": bool(branch.get("default", False)),
        "adopted": adopted,
    }


def _normalized_or_none(value: Any) -> str | None:
    return normalize_expiry(value) if isinstance(value, str) and value else None


def _raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise NeonConfigError("; ".join(f"{prop}: {reason}" for prop, reason in problems))


class NeonRoleProvider(_NeonProvider):
    """A Postgres role on a branch; its password (revealed per branch) is an output. ID: ``branch/role``."""

    REPLACE_KEYS = ("project_id", "branch_id", "role_name")
    UPDATE_KEYS = ("api_base_url",)
    INPUT_KEYS = (*REPLACE_KEYS, *UPDATE_KEYS)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        failures = self.credential_failures() + required_failures(
            news, ("project_id", "branch_id", "role_name")
        )
        name = news.get("role_name")
        if isinstance(name, str) and not is_unknown(name) and len(name.encode()) > 63:
            failures.append(dyn.CheckFailure("role_name", "a Postgres role name has at most 63 bytes"))
        return dyn.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        project, branch, name = (
            _text(props, "project_id"),
            _text(props, "branch_id"),
            _text(props, "role_name"),
        )
        with self._client(props) as neon:
            role = neon.get_role(project, branch, name)
            adopted = role is not None
            if role is None:
                role = recover_create(
                    lambda: neon.create_role(project, branch, name),
                    lambda: neon.get_role(project, branch, name),
                )
            # A child of a protected branch gets its own passwords: always the one of *this* branch.
            password = role.password or neon.reveal_password(project, branch, name)
        revision = role.updated_at
        outs = {**stored(props), "password": password, "password_revision": revision, "adopted": adopted}
        return dyn.CreateResult(f"{branch}/{name}", outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        project, branch, name = (
            _text(props, "project_id"),
            _text(props, "branch_id"),
            _text(props, "role_name"),
        )
        with self._client(props) as neon:
            role = neon.get_role(project, branch, name)
            if role is None:
                return dyn.ReadResult("", {})
            password = neon.reveal_password(project, branch, name)
        outs = stored({**props, "password": password, "password_revision": role.updated_at})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return diff_keys(olds, news, replace=self.REPLACE_KEYS, update=self.UPDATE_KEYS)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        kept: dict[str, Any] = {k: olds[k] for k in ("password", "password_revision", "adopted") if k in olds}
        return dyn.UpdateResult({**stored(news), **kept})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return  # it came with the branch (inherited or pre-existing) and goes with it
        with self._client(props) as neon:
            _ignore_missing(
                lambda: neon.delete_role(
                    _text(props, "project_id"), _text(props, "branch_id"), props["role_name"]
                )
            )


class NeonDatabaseProvider(_NeonProvider):
    """A database on a branch, owned by a role. ID: ``branch/database``."""

    REPLACE_KEYS = ("project_id", "branch_id", "database_name")
    UPDATE_KEYS = ("owner_name", "api_base_url")
    INPUT_KEYS = (*REPLACE_KEYS, *UPDATE_KEYS)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        required = ("project_id", "branch_id", "database_name", "owner_name")
        return dyn.CheckResult(news, self.credential_failures() + required_failures(news, required))

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        project, branch = _text(props, "project_id"), _text(props, "branch_id")
        name, owner = _text(props, "database_name"), _text(props, "owner_name")
        with self._client(props) as neon:
            existing = neon.get_database(project, branch, name)
            adopted = existing is not None
            if existing is None:
                recover_create(
                    lambda: neon.create_database(project, branch, name, owner),
                    lambda: neon.get_database(project, branch, name),
                )
            elif existing["owner_name"] != owner:
                neon.update_database_owner(project, branch, name, owner)
        return dyn.CreateResult(f"{branch}/{name}", {**stored(props), "adopted": adopted})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        project, branch, name = (
            _text(props, "project_id"),
            _text(props, "branch_id"),
            _text(props, "database_name"),
        )
        with self._client(props) as neon:
            existing = neon.get_database(project, branch, name)
        if existing is None:
            return dyn.ReadResult("", {})
        outs = stored({**props, "owner_name": existing["owner_name"]})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return diff_keys(olds, news, replace=self.REPLACE_KEYS, update=self.UPDATE_KEYS)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        if olds.get("owner_name") != news.get("owner_name"):
            with self._client(news) as neon:
                neon.update_database_owner(
                    _text(news, "project_id"),
                    _text(news, "branch_id"),
                    _text(news, "database_name"),
                    news["owner_name"],
                )
        return dyn.UpdateResult({**stored(news), "adopted": bool(olds.get("adopted", False))})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return
        with self._client(props) as neon:
            _ignore_missing(
                lambda: neon.delete_database(
                    _text(props, "project_id"), _text(props, "branch_id"), props["database_name"]
                )
            )


class NeonConnectionProvider(_NeonProvider):
    """The pooled and direct connection URIs Neon issues for (branch, endpoint, database, role).

    Nothing is created remotely: create/read/update fetch ``GET /projects/{id}/connection_uri`` with
    ``branch_id`` and ``endpoint_id`` (which the official client cannot pass); delete is a no-op. The
    ``password_revision`` input (the role's ``updated_at``) makes a password change refetch the URIs.
    """

    # Nothing exists at Neon to replace: any change, or an unknown in a preview, is an update (a refetch).
    REQUIRED_KEYS = ("project_id", "branch_id", "endpoint_id", "database_name", "role_name")
    REPLACE_KEYS = ()
    UPDATE_KEYS = (*REQUIRED_KEYS, "password_revision", "api_base_url")
    INPUT_KEYS = UPDATE_KEYS

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return dyn.CheckResult(news, self.credential_failures() + required_failures(news, self.REQUIRED_KEYS))

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        outs = {**stored(props), **self._fetch(props)}
        ident = "/".join(_text(props, k) for k in ("branch_id", "endpoint_id", "database_name", "role_name"))
        return dyn.CreateResult(ident, outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        try:
            outs = stored({**props, **self._fetch(props)})
        except NotFound:
            return dyn.ReadResult("", {})
        return dyn.ReadResult(id_, outs, read_inputs(outs, self.INPUT_KEYS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return diff_keys(olds, news, replace=self.REPLACE_KEYS, update=self.UPDATE_KEYS)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult({**stored(news), **self._fetch(news)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None

    def _fetch(self, props: Mapping[str, Any]) -> dict[str, str]:
        where = {
            "branch_id": _text(props, "branch_id"),
            "endpoint_id": _text(props, "endpoint_id"),
            "database": _text(props, "database_name"),
            "role": _text(props, "role_name"),
        }
        project = _text(props, "project_id")
        with self._client(props) as neon:
            pooled = neon.connection_uri(project, pooled=True, **where)
            direct = neon.connection_uri(project, pooled=False, **where)
        if "-pooler." not in _host_of(pooled) or "-pooler." in _host_of(direct):
            raise NeonProvisioningError(
                f"Neon's connection URIs for branch {where['branch_id']} do not tell pooled from direct "
                "(expected the -pooler host only in the pooled one)"
            )
        return {"pooled_uri": pooled, "direct_uri": direct}


def _host_of(uri: str) -> str:
    return urlsplit(uri).hostname or ""


def _ignore_missing(action: Callable[[], None]) -> None:
    try:
        action()
    except NotFound:
        return


# Resources ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeonBranchArgs:
    """Inputs of :class:`NeonBranch`. ``branch_name`` is required unless ``adopt_default_branch``."""

    project_id: pulumi.Input[str]
    branch_name: pulumi.Input[str] | None = None
    parent_id: pulumi.Input[str] | None = None  # None: the project's default branch is the parent
    adopt_default_branch: bool = False
    protected: bool = False
    expires_at: str | None = None  # previews only; see preview_expiry()
    autoscaling_min_cu: float = MIN_COMPUTE_UNITS
    autoscaling_max_cu: float = MIN_COMPUTE_UNITS
    suspend_timeout_seconds: int = 300
    api_base_url: str = NEON_API_BASE_URL


class NeonBranch(dyn.Resource, module="neon", name="Branch"):
    """``pulumi-python:dynamic/neon:Branch``; outputs branch_id, endpoint_id, host, pooler_host."""

    branch_id: pulumi.Output[str]
    endpoint_id: pulumi.Output[str]
    host: pulumi.Output[str]
    pooler_host: pulumi.Output[str]
    is_default: pulumi.Output[bool]
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        args: NeonBranchArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: NeonBranchProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "project_id": args.project_id,
            "branch_name": args.branch_name,
            "parent_id": args.parent_id,
            "adopt_default_branch": args.adopt_default_branch,
            "protected": args.protected,
            "expires_at": args.expires_at,
            "autoscaling_min_cu": args.autoscaling_min_cu,
            "autoscaling_max_cu": args.autoscaling_max_cu,
            "suspend_timeout_seconds": args.suspend_timeout_seconds,
            "api_base_url": args.api_base_url,
            **dict.fromkeys(("branch_id", "endpoint_id", "host", "pooler_host", "is_default", "adopted")),
        }
        super().__init__(provider or NeonBranchProvider(), resource_name, props, opts)


@dataclass(frozen=True)
class NeonRoleArgs:
    project_id: pulumi.Input[str]
    branch_id: pulumi.Input[str]
    role_name: pulumi.Input[str]
    api_base_url: str = NEON_API_BASE_URL


class NeonRole(dyn.Resource, module="neon", name="Role"):
    """``pulumi-python:dynamic/neon:Role`` — outputs ``password`` (secret) and ``password_revision``."""

    role_name: pulumi.Output[str]
    password: pulumi.Output[str]
    password_revision: pulumi.Output[str]
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        args: NeonRoleArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: NeonRoleProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "project_id": args.project_id,
            "branch_id": args.branch_id,
            "role_name": args.role_name,
            "api_base_url": args.api_base_url,
            **dict.fromkeys(("password", "password_revision", "adopted")),
        }
        options = with_secret_outputs(opts, ["password"])
        super().__init__(provider or NeonRoleProvider(), resource_name, props, options)


@dataclass(frozen=True)
class NeonDatabaseArgs:
    project_id: pulumi.Input[str]
    branch_id: pulumi.Input[str]
    database_name: pulumi.Input[str]
    owner_name: pulumi.Input[str]
    api_base_url: str = NEON_API_BASE_URL


class NeonDatabase(dyn.Resource, module="neon", name="Database"):
    """``pulumi-python:dynamic/neon:Database`` — outputs ``database_name``, ``owner_name``."""

    database_name: pulumi.Output[str]
    owner_name: pulumi.Output[str]
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        args: NeonDatabaseArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: NeonDatabaseProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "project_id": args.project_id,
            "branch_id": args.branch_id,
            "database_name": args.database_name,
            "owner_name": args.owner_name,
            "api_base_url": args.api_base_url,
            "adopted": None,
        }
        super().__init__(provider or NeonDatabaseProvider(), resource_name, props, opts)


@dataclass(frozen=True)
class NeonConnectionArgs:
    project_id: pulumi.Input[str]
    branch_id: pulumi.Input[str]
    endpoint_id: pulumi.Input[str]
    database_name: pulumi.Input[str]
    role_name: pulumi.Input[str]
    password_revision: pulumi.Input[str]
    api_base_url: str = NEON_API_BASE_URL


class NeonConnection(dyn.Resource, module="neon", name="Connection"):
    """``pulumi-python:dynamic/neon:Connection`` — outputs ``pooled_uri`` and ``direct_uri``, both secret."""

    pooled_uri: pulumi.Output[str]
    direct_uri: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: NeonConnectionArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: NeonConnectionProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "project_id": args.project_id,
            "branch_id": args.branch_id,
            "endpoint_id": args.endpoint_id,
            "database_name": args.database_name,
            "role_name": args.role_name,
            "password_revision": args.password_revision,
            "api_base_url": args.api_base_url,
            **dict.fromkeys(("pooled_uri", "direct_uri")),
        }
        options = with_secret_outputs(opts, ["pooled_uri", "direct_uri"])
        super().__init__(provider or NeonConnectionProvider(), resource_name, props, options)
