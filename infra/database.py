"""``Database``: one stage's Neon database — the project when the stage manages it, a branch with its
read-write endpoint, the app role, the app database, and the pooled (functions) and direct (migrations)
connection URIs, both Pulumi secrets.

Stage differences come in as data (``DatabaseArgs``), e.g.::

    production = DatabaseArgs(project=NeonProjectArgs("ballast", "aws-eu-central-1", 17, 604800),
                              stage="production", adopt_default_branch=True, protected=True,
                              autoscaling_min_cu=0.5, autoscaling_max_cu=2, retain_on_delete=True)
    staging = DatabaseArgs(project_id=pid, stage="staging", parent_branch_id=None)   # from the default branch
    preview = DatabaseArgs(project_id=pid, stage="pr-123", parent_branch_id=staging_branch_id,
                           expires_at=preview_expiry(7), suspend_timeout_seconds=60)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.providers.neon import (
    MIN_COMPUTE_UNITS,
    NeonBranch,
    NeonBranchArgs,
    NeonConfigError,
    NeonConnection,
    NeonConnectionArgs,
    NeonDatabase,
    NeonDatabaseArgs,
    NeonRole,
    NeonRoleArgs,
    branch_settings_problems,
)
from infra.providers.neon_client import NEON_API_BASE_URL
from infra.providers.neon_project import NeonProject, NeonProjectArgs

COMPONENT_TYPE = "ballast:database:Database"


@dataclass(frozen=True)
class DatabaseArgs:
    """Everything that differs per stage. ``stage`` and one of ``project_id``/``project`` are required.

    - ``project_id``: a project another stack manages; ``project``: declare it here (a :class:`NeonProject`
      child, created or adopted) — its id then feeds the branch.
    - ``parent_branch_id``: the branch to copy; None means the project's default (primary) branch.
    - ``adopt_default_branch``: run this stage *on* the project's default branch instead of a new one
      (production's usual choice); it is then never deleted by Ballast. Excludes ``parent_branch_id``.
    - ``protected``: Neon branch protection (production). ``expires_at``: RFC 3339, previews only — at most
      30 days ahead, never with ``protected`` or on the default branch (see ``preview_expiry``).
    - ``autoscaling_min_cu``/``autoscaling_max_cu`` (≥ 0.25) and ``suspend_timeout_seconds`` (-1 never,
      0 Neon's default, else 60 to 604800): the read-write endpoint's compute.
    - ``retain_on_delete``: on the project, branch, role and database, which hold data: a destroy leaves them
      in Neon. Protection (``protect``) comes with the component's options and every child inherits it.
    """

    project_id: pulumi.Input[str] | None
    stage: str
    project: NeonProjectArgs | None = None
    branch_name: str | None = None  # default: "ballast-<stage>"
    parent_branch_id: pulumi.Input[str] | None = None
    adopt_default_branch: bool = False
    protected: bool = False
    expires_at: str | None = None
    autoscaling_min_cu: float = MIN_COMPUTE_UNITS
    autoscaling_max_cu: float = MIN_COMPUTE_UNITS
    suspend_timeout_seconds: int = 300
    role_name: str = "ballast_app"
    database_name: str = "ballast"
    retain_on_delete: bool = False
    api_base_url: str = NEON_API_BASE_URL

    @property
    def resolved_branch_name(self) -> str:
        return self.branch_name or f"ballast-{self.stage}"

    def problems(self) -> list[tuple[str, str]]:
        """Every (argument, reason) that Neon would refuse, decided before anything is declared."""
        problems = branch_settings_problems(
            branch_name=self.resolved_branch_name,
            adopt_default_branch=self.adopt_default_branch,
            parent_id="(set)" if self.parent_branch_id is not None else None,
            protected=self.protected,
            expires_at=self.expires_at,
            autoscaling_min_cu=self.autoscaling_min_cu,
            autoscaling_max_cu=self.autoscaling_max_cu,
            suspend_timeout_seconds=self.suspend_timeout_seconds,
        )
        renamed = {"parent_id": "parent_branch_id"}
        problems = [(renamed.get(prop, prop), reason) for prop, reason in problems]
        if (self.project_id is None) == (self.project is None):
            problems.append(
                ("project_id", "name the Neon project (ballast:neonProjectId or ballast:neonProjectStack) "
                 "or manage it in this stack (ballast:neonManageProject), exactly one of the two")
            )  # fmt: skip
        if self.project is not None:
            problems += self.project.problems()
        for prop in ("stage", "role_name", "database_name"):
            if not getattr(self, prop):
                problems.append((prop, "must not be empty"))
        if len(self.role_name.encode()) > 63:
            problems.append(("role_name", "a Postgres role name has at most 63 bytes"))
        return problems


class Database(pulumi.ComponentResource):
    """``ballast:database:Database``.

    Outputs: ``project_id``, ``branch_id``, ``endpoint_id``, ``host``, ``pooler_host``, ``role_name``,
    ``database_name``, ``pooled_url`` (secret; the ``-pooler`` host, for functions) and ``direct_url``
    (secret; migrations).
    Children are reachable as ``project`` (None unless declared here), ``branch``, ``role``, ``database``
    and ``connection``. Pass ``opts=ResourceOptions(protect=True)`` to protect the component and, by
    inheritance, every child.
    """

    project_id: pulumi.Output[str]
    branch_id: pulumi.Output[str]
    endpoint_id: pulumi.Output[str]
    host: pulumi.Output[str]
    pooler_host: pulumi.Output[str]
    role_name: pulumi.Output[str]
    database_name: pulumi.Output[str]
    pooled_url: pulumi.Output[str]
    direct_url: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            listed = "; ".join(f"{prop}: {reason}" for prop, reason in problems)
            raise NeonConfigError(f"Database {name!r} ({args.stage}): {listed}")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        # Children inherit the component's protect; the data-holding ones also stay in Neon on a destroy.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete)

        self.project: NeonProject | None = None
        project_id: pulumi.Input[str]
        if args.project is not None:
            self.project = NeonProject(f"{name}-project", args.project, kept)
            project_id = self.project.project_id
        else:
            assert args.project_id is not None  # problems() above
            project_id = args.project_id

        self.branch = NeonBranch(
            f"{name}-branch",
            NeonBranchArgs(
                project_id=project_id,
                branch_name=None if args.adopt_default_branch else args.resolved_branch_name,
                parent_id=args.parent_branch_id,
                adopt_default_branch=args.adopt_default_branch,
                protected=args.protected,
                expires_at=args.expires_at,
                autoscaling_min_cu=args.autoscaling_min_cu,
                autoscaling_max_cu=args.autoscaling_max_cu,
                suspend_timeout_seconds=args.suspend_timeout_seconds,
                api_base_url=args.api_base_url,
            ),
            kept,
        )
        # The children name the branch by its resource id (the branch id): a preview of a branch update keeps
        # the id known but not its outputs (the dynamic provider has no preview), so a resized branch does
        # not show its role and database as replaced.
        self.role = NeonRole(
            f"{name}-role",
            NeonRoleArgs(
                project_id=project_id,
                branch_id=self.branch.id,
                role_name=args.role_name,
                api_base_url=args.api_base_url,
            ),
            kept,
        )
        self.database = NeonDatabase(
            f"{name}-database",
            NeonDatabaseArgs(
                project_id=project_id,
                branch_id=self.branch.id,
                database_name=args.database_name,
                owner_name=self.role.role_name,
                api_base_url=args.api_base_url,
            ),
            kept,
        )
        self.connection = NeonConnection(
            f"{name}-connection",
            NeonConnectionArgs(
                project_id=project_id,
                branch_id=self.branch.id,
                endpoint_id=self.branch.endpoint_id,
                database_name=self.database.database_name,
                role_name=self.role.role_name,
                password_revision=self.role.password_revision,
                api_base_url=args.api_base_url,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.project_id = pulumi.Output.from_input(project_id)
        self.branch_id = self.branch.branch_id
        self.endpoint_id = self.branch.endpoint_id
        self.host = self.branch.host
        self.pooler_host = self.branch.pooler_host
        self.role_name = self.role.role_name
        self.database_name = self.database.database_name
        self.pooled_url = pulumi.Output.secret(self.connection.pooled_uri)
        self.direct_url = pulumi.Output.secret(self.connection.direct_uri)
        self.register_outputs(
            {
                "project_id": self.project_id,
                "branch_id": self.branch_id,
                "endpoint_id": self.endpoint_id,
                "host": self.host,
                "pooler_host": self.pooler_host,
                "role_name": self.role_name,
                "database_name": self.database_name,
                "pooled_url": self.pooled_url,
                "direct_url": self.direct_url,
            }
        )
