"""Neon API v2 calls the dynamic providers need, over the shared retrying session.

The official ``neon_api.NeonAPI`` client is used where it fits — role lookup/create/delete and database
lookup — with Ballast's :class:`~infra.providers.http.RetryingSession` swapped in for its plain session, so
it gets timeouts, retries and typed errors too. Everything else goes through the shared helper directly,
because of the official client's gaps (neon-api 0.3.0):

- it neither retries nor waits for operations (its ``_session`` is a bare ``requests.Session``);
- its branch models silently drop ``expires_at`` and list pagination, and it cannot ``search`` branches;
- ``connection_uri()`` cannot pass ``branch_id``/``endpoint_id`` (it always answers for the default branch);
- ``role_password_reveal()`` sends POST where the published spec has GET;
- ``database_create/update/delete()`` return models without ``operations``, so nothing to wait on;
- its ``OperationAction`` enum predates actions the API now returns, so parsing an operation can fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from infra.providers.credentials import NEON_API_KEY
from infra.providers.http import ApiClient, NotFound, RetryPolicy

NEON_API_BASE_URL = "https://console.neon.tech/api/v2"
SERVICE = "Neon"
# Operation statuses (spec: OperationStatus). `error` is retried by Neon itself, so it is still in flight.
OPERATION_DONE = frozenset({"finished", "skipped"})
OPERATION_FAILED = frozenset({"failed", "cancelled"})
_BRANCH_PAGE_LIMIT = 10000
_PROJECT_PAGE_LIMIT = 400  # the spec's maximum for GET /projects


@dataclass(frozen=True)
class PollPolicy:
    """How long to wait for Neon operations to finish, and how often to ask."""

    interval_seconds: float = 1.0
    max_interval_seconds: float = 5.0
    timeout_seconds: float = 600.0


class NeonProvisioningError(Exception):
    """Neon answered, but not with what provisioning needs (the message says what and where)."""


class OperationFailed(NeonProvisioningError):
    """A Neon operation ended in failure or did not finish in time."""


@dataclass(frozen=True)
class Role:
    name: str
    password: str | None
    updated_at: str


@dataclass(frozen=True)
class Operations:
    """Ids of operations a mutation started, with the status the response reported."""

    pending: tuple[str, ...]

    @staticmethod
    def of(items: Iterable[Any]) -> Operations:
        pending: list[str] = []
        for item in items:
            op_id, status = _operation_fields(item)
            if status not in OPERATION_DONE:
                pending.append(op_id)
        return Operations(tuple(pending))


class NeonClient:
    """Typed Neon calls: projects, and a project's branches, endpoints, roles and databases."""

    def __init__(self, api: ApiClient, *, poll: PollPolicy | None = None) -> None:
        self.api = api
        self.poll = poll or PollPolicy()
        self._official: Any = None

    def __enter__(self) -> NeonClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.api.close()

    @property
    def official(self) -> Any:
        """The official ``neon_api.NeonAPI`` client, sending through the shared retrying session."""
        if self._official is None:
            from neon_api import NeonAPI  # imported on first use: only some calls need it

            client = NeonAPI(_bearer_token(self.api), base_url=self.api.base_url + "/")
            client._session = self.api.session  # the gap: no retries, timeouts or typed errors otherwise
            self._official = client
        return self._official

    # Projects -------------------------------------------------------------------------------------------

    def create_project(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /projects and wait for its operations; the whole response (``project``, ``branch``, …)."""
        created = _as_dict(self.api.post("projects", dict(body)))
        project = _as_dict(created.get("project"))
        self.wait(str(project.get("id", "")), Operations.of(created.get("operations") or []))
        return created

    def get_project(self, project_id: str) -> dict[str, Any]:
        """The project (:class:`NotFound` when it does not exist)."""
        return _as_dict(_as_dict(self.api.get(_project(project_id))).get("project"))

    def find_projects(self, name: str, *, org_id: str | None = None) -> list[dict[str, Any]]:
        """Projects whose name is exactly ``name`` (the API's ``search`` also matches parts of names)."""
        params: dict[str, Any] = {"search": name, "limit": _PROJECT_PAGE_LIMIT}
        if org_id:
            params["org_id"] = org_id
        body = _as_dict(self.api.get("projects", params))
        return [_as_dict(p) for p in body.get("projects") or [] if _as_dict(p).get("name") == name]

    def update_project(self, project_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        body = _as_dict(self.api.patch(_project(project_id), {"project": dict(fields)}))
        self.wait(project_id, Operations.of(body.get("operations") or []))
        return _as_dict(body.get("project"))

    def delete_project(self, project_id: str) -> None:
        """Delete the project with everything in it; one already gone (404) counts as deleted."""
        try:
            self.api.delete(_project(project_id))
        except NotFound:
            return

    # Branches -------------------------------------------------------------------------------------------

    def create_branch(self, project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return _as_dict(self.api.post(_project(project_id, "branches"), dict(body)))

    def get_branch(self, project_id: str, branch_id: str) -> dict[str, Any]:
        body = _as_dict(self.api.get(_project(project_id, "branches", branch_id)))
        return _as_dict(body.get("branch"))

    def list_branches(self, project_id: str, *, search: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": _BRANCH_PAGE_LIMIT}
        if search:
            params["search"] = search
        body = _as_dict(self.api.get(_project(project_id, "branches"), params))
        return [_as_dict(b) for b in body.get("branches") or []]

    def find_branch_by_name(self, project_id: str, name: str) -> dict[str, Any] | None:
        return next((b for b in self.list_branches(project_id, search=name) if b.get("name") == name), None)

    def default_branch(self, project_id: str) -> dict[str, Any]:
        for branch in self.list_branches(project_id):
            if branch.get("default") or branch.get("primary"):
                return branch
        raise NeonProvisioningError(f"Neon project {project_id} lists no default branch to adopt")

    def child_branches(self, project_id: str, branch_id: str) -> list[dict[str, Any]]:
        return [b for b in self.list_branches(project_id) if b.get("parent_id") == branch_id]

    def update_branch(self, project_id: str, branch_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        body = _as_dict(self.api.patch(_project(project_id, "branches", branch_id), {"branch": dict(fields)}))
        self.wait(project_id, Operations.of(body.get("operations") or []))
        return _as_dict(body.get("branch"))

    def delete_branch(self, project_id: str, branch_id: str) -> None:
        """Delete and wait; a branch that is already gone (404, or 204 from the API) counts as deleted."""
        try:
            body = self.api.delete(_project(project_id, "branches", branch_id))
        except NotFound:
            return
        if body:
            self.wait(project_id, Operations.of(_as_dict(body).get("operations") or []), missing_ok=True)

    def branch_endpoints(self, project_id: str, branch_id: str) -> list[dict[str, Any]]:
        body = _as_dict(self.api.get(_project(project_id, "branches", branch_id, "endpoints")))
        return [_as_dict(e) for e in body.get("endpoints") or []]

    def read_write_endpoint(self, project_id: str, branch_id: str) -> dict[str, Any] | None:
        endpoints = self.branch_endpoints(project_id, branch_id)
        return next((e for e in endpoints if e.get("type") == "read_write"), None)

    def update_endpoint(self, project_id: str, endpoint_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        path = _project(project_id, "endpoints", endpoint_id)
        body = _as_dict(self.api.patch(path, {"endpoint": dict(fields)}))
        self.wait(project_id, Operations.of(body.get("operations") or []))
        return _as_dict(body.get("endpoint"))

    def branch_operations(self, project_id: str, branch_id: str) -> list[dict[str, Any]]:
        """The project's recent operations on one branch (to wait on after recovering a create)."""
        body = _as_dict(self.api.get(_project(project_id, "operations"), {"limit": 100}))
        operations = [_as_dict(op) for op in body.get("operations") or []]
        return [op for op in operations if op.get("branch_id") == branch_id]

    # Roles and databases ----------------------------------------------------------------------------------

    def get_role(self, project_id: str, branch_id: str, role_name: str) -> Role | None:
        try:
            response = self.official.role(project_id, branch_id, role_name)
        except NotFound:
            return None
        return _role(response.role)

    def create_role(self, project_id: str, branch_id: str, role_name: str) -> Role:
        response = self.official.role_create(project_id, branch_id, role_name)
        self.wait(project_id, Operations.of(response.operations or []))
        return _role(response.role)

    def delete_role(self, project_id: str, branch_id: str, role_name: str) -> None:
        try:
            response = self.official.role_delete(project_id, branch_id, role_name)
        except NotFound:
            return
        self.wait(project_id, Operations.of(response.operations or []), missing_ok=True)

    def reveal_password(self, project_id: str, branch_id: str, role_name: str) -> str:
        path = _project(project_id, "branches", branch_id, "roles", role_name, "reveal_password")
        password = _as_dict(self.api.get(path)).get("password")
        if not isinstance(password, str) or not password:
            raise NeonProvisioningError(
                f"Neon revealed no password for role {role_name} on branch {branch_id}"
            )
        return password

    def get_database(self, project_id: str, branch_id: str, name: str) -> dict[str, Any] | None:
        try:
            response = self.official.database(project_id, branch_id, name)
        except NotFound:
            return None
        return {"name": response.database.name, "owner_name": response.database.owner_name}

    def create_database(self, project_id: str, branch_id: str, name: str, owner: str) -> None:
        path = _project(project_id, "branches", branch_id, "databases")
        body = _as_dict(self.api.post(path, {"database": {"name": name, "owner_name": owner}}))
        self.wait(project_id, Operations.of(body.get("operations") or []))

    def update_database_owner(self, project_id: str, branch_id: str, name: str, owner: str) -> None:
        path = _project(project_id, "branches", branch_id, "databases", name)
        body = _as_dict(self.api.patch(path, {"database": {"owner_name": owner}}))
        self.wait(project_id, Operations.of(body.get("operations") or []))

    def delete_database(self, project_id: str, branch_id: str, name: str) -> None:
        try:
            body = self.api.delete(_project(project_id, "branches", branch_id, "databases", name))
        except NotFound:
            return
        if body:
            self.wait(project_id, Operations.of(_as_dict(body).get("operations") or []), missing_ok=True)

    def connection_uri(
        self, project_id: str, *, branch_id: str, endpoint_id: str, database: str, role: str, pooled: bool
    ) -> str:
        params = {
            "branch_id": branch_id,
            "endpoint_id": endpoint_id,
            "database_name": database,
            "role_name": role,
            "pooled": "true" if pooled else "false",
        }
        uri = _as_dict(self.api.get(_project(project_id, "connection_uri"), params)).get("uri")
        if not isinstance(uri, str) or "://" not in uri:
            raise NeonProvisioningError(f"Neon returned no connection URI for branch {branch_id}")
        return uri

    # Operations -------------------------------------------------------------------------------------------

    def wait(self, project_id: str, operations: Operations, *, missing_ok: bool = False) -> None:
        """Poll each pending operation until it finishes; :class:`OperationFailed` on failure or timeout."""
        if not operations.pending:
            return
        clock, sleep, poll = self.api.clock, self.api.sleep, self.poll
        started = clock()
        interval = poll.interval_seconds
        pending = list(operations.pending)
        while pending:
            still: list[str] = []
            for op_id in pending:
                try:
                    body = _as_dict(self.api.get(_project(project_id, "operations", op_id)))
                except NotFound:
                    if missing_ok:
                        continue
                    raise
                operation = _as_dict(body.get("operation"))
                status = str(operation.get("status", ""))
                if status in OPERATION_FAILED:
                    action = operation.get("action", "operation")
                    detail = operation.get("error") or "no detail given"
                    raise OperationFailed(f"Neon operation {op_id} ({action}) {status}: {detail}")
                if status not in OPERATION_DONE:
                    still.append(op_id)
            pending = still
            if not pending:
                return
            waited = clock() - started
            if waited + interval > poll.timeout_seconds:
                raise OperationFailed(
                    f"Neon operations {', '.join(pending)} still running after {waited:.0f}s "
                    f"(limit {poll.timeout_seconds:g}s)"
                )
            sleep(interval)
            interval = min(interval * 2, poll.max_interval_seconds)


def neon_client(
    *,
    base_url: str,
    api_key: str,
    retry: RetryPolicy,
    poll: PollPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> NeonClient:
    api = ApiClient(
        service=SERVICE,
        base_url=base_url,
        credential=api_key,
        policy=retry,
        sleep=sleep,
        auth_hint=f"check the Neon API key ({NEON_API_KEY.where})",
    )
    return NeonClient(api, poll=poll)


def _bearer_token(api: ApiClient) -> str:
    header = str(api.session.headers.get("Authorization", ""))
    return header.removeprefix("Bearer ")


def _project(project_id: str, *parts: str) -> str:
    segments = ["projects", project_id, *parts]
    return "/".join(quote(s, safe="") for s in segments)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _role(model: Any) -> Role:
    return Role(name=str(model.name), password=model.password, updated_at=str(model.updated_at))


def _operation_fields(item: Any) -> tuple[str, str]:
    """(id, status) of an operation given as JSON or as an official-client model (status is an Enum)."""
    if isinstance(item, dict):
        return str(item.get("id", "")), str(item.get("status", ""))
    status = getattr(item, "status", "")
    return str(item.id), str(getattr(status, "value", status))
