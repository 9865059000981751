"""``NeonProject``: the Neon project a production stage runs in — created by Ballast, or adopted by id.

Resource type ``pulumi-python:dynamic/neon:Project`` (a Ballast dynamic provider over Neon API v2, like the
branch, role and database in ``neon.py``), in place of ``pulumi_neon.Project``: that SDK (PyPI 0.0.1b1) points
at a plugin release that was never published, so ``pulumi up`` could not install it, and it cannot set the
project's region or history window anyway.

What it manages (``POST /projects``, ``GET``/``PATCH``/``DELETE /projects/{project_id}``):

- ``region_id`` and ``pg_version`` are fixed when a project is created; Neon cannot change either. A change
  is reported by Diff as a *replacement* (a new, empty project). Production's project is ``protect``-ed, so
  the engine refuses that plan instead of running it; an adopted project is never replaced: the update
  fails and says what to do (a new project and a data migration are a decision, not a side effect).
- ``history_retention_seconds`` (the history window: instant restore, Time Travel, branching from the past)
  and ``project_name`` are updated in place. One window per project: every branch in it shares it.
  The API accepts 0 to 30 days; the plan caps it (``PLAN_HISTORY_LIMITS``), and Neon refuses more.
- Adopting (``adopt_project_id``): create reads the project, checks region and Postgres version against the
  inputs (refusing a mismatch) and applies name and history; delete releases it untouched, always.
- A created project is deleted with everything in it by ``Delete`` — which the engine never calls for a
  ``retain_on_delete`` resource (production): tearing production down leaves its data in Neon.

The API key comes from the provider's credentials (see ``neon.py``), never an input of this resource.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi.dynamic as dyn

from infra.providers.http import NotFound, recover_create
from infra.providers.neon import NeonConfigError, _NeonProvider
from infra.providers.neon_client import NEON_API_BASE_URL, NeonClient, NeonProvisioningError
from infra.providers.props import changed_keys, is_unknown, keep_unknowns, read_inputs

# The spec: ProjectCreateRequest / ProjectUpdateRequest.
MAX_HISTORY_RETENTION_SECONDS: Final = 2_592_000  # 30 days
PG_VERSIONS: Final = (14, 15, 16, 17, 18)
MAX_PROJECT_NAME_CHARS: Final = 256
REGION_ID: Final = re.compile(r"^(aws|azure)-[a-z0-9-]+$")  # e.g. aws-eu-central-1, azure-gwc
ORG_ID: Final = re.compile(r"^[a-z0-9-]{1,60}$")
# Neon's plans (https://neon.com/docs/introduction/history-window): the longest window each allows.
PLAN_HISTORY_LIMITS: Final = {"free": 6 * 3600, "launch": 7 * 86400, "scale": 30 * 86400}

REPLACE_KEYS: Final = ("adopt_project_id", "region_id", "pg_version", "org_id")
UPDATE_KEYS: Final = ("project_name", "history_retention_seconds", "api_base_url")
FIXED_AT_CREATION: Final = ("region_id", "pg_version")


def _known(value: Any) -> bool:
    """A value the engine knows now (in a preview, an output not yet known arrives unknown)."""
    return value is not None and not is_unknown(value)


def _whole(value: Any) -> int | None:
    """An integer input (the engine sends numbers as floats); None when it is not a whole number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value)


def project_problems(
    *,
    project_name: Any,
    region_id: Any,
    pg_version: Any,
    history_retention_seconds: Any,
    org_id: Any = None,
    adopt_project_id: Any = None,
) -> list[tuple[str, str]]:
    """Every (property, reason) Neon would refuse, decided offline; values not known yet are skipped."""
    problems: list[tuple[str, str]] = []
    if _known(project_name) and not (
        isinstance(project_name, str) and 1 <= len(project_name) <= MAX_PROJECT_NAME_CHARS
    ):
        problems.append(("project_name", f"a Neon project name has 1 to {MAX_PROJECT_NAME_CHARS} characters"))
    if _known(region_id) and not (isinstance(region_id, str) and REGION_ID.match(region_id)):
        problems.append(("region_id", "is not a Neon region id such as aws-eu-central-1"))
    if _known(pg_version) and _whole(pg_version) not in PG_VERSIONS:
        problems.append(("pg_version", f"Neon runs Postgres {', '.join(map(str, PG_VERSIONS))}"))
    seconds = _whole(history_retention_seconds)
    if _known(history_retention_seconds) and (
        seconds is None or not 0 <= seconds <= MAX_HISTORY_RETENTION_SECONDS
    ):
        problems.append(
            ("history_retention_seconds", f"must be whole seconds from 0 to {MAX_HISTORY_RETENTION_SECONDS}")
        )
    if _known(org_id) and not (isinstance(org_id, str) and ORG_ID.match(org_id)):
        problems.append(("org_id", "is not a Neon organization id (lowercase letters, digits, '-')"))
    if _known(adopt_project_id) and not (
        isinstance(adopt_project_id, str) and ORG_ID.match(adopt_project_id)
    ):
        problems.append(("adopt_project_id", "is not a Neon project id such as shiny-wind-028834"))
    return problems


@dataclass(frozen=True)
class ProjectSettings:
    """A NeonProject's inputs, typed."""

    project_name: str
    region_id: str
    pg_version: int
    history_retention_seconds: int
    org_id: str | None
    adopt_project_id: str | None
    api_base_url: str

    @staticmethod
    def from_props(props: Mapping[str, Any]) -> ProjectSettings:
        """Typed settings; raises :class:`NeonConfigError` listing every problem."""
        fields: dict[str, Any] = {key: props.get(key) for key in _PROBLEM_KEYS}
        problems = _missing(props) + project_problems(**fields)
        if problems:
            raise NeonConfigError("; ".join(f"{prop}: {reason}" for prop, reason in problems))
        return ProjectSettings(
            project_name=str(fields["project_name"]),
            region_id=str(fields["region_id"]),
            pg_version=int(fields["pg_version"]),
            history_retention_seconds=int(fields["history_retention_seconds"]),
            org_id=fields["org_id"] or None,
            adopt_project_id=fields["adopt_project_id"] or None,
            api_base_url=str(props.get("api_base_url") or NEON_API_BASE_URL),
        )

    def to_props(self) -> dict[str, Any]:
        return {
            "project_name": self.project_name,
            "region_id": self.region_id,
            "pg_version": self.pg_version,
            "history_retention_seconds": self.history_retention_seconds,
            "org_id": self.org_id,
            "adopt_project_id": self.adopt_project_id,
            "api_base_url": self.api_base_url,
        }

    def create_body(self) -> dict[str, Any]:
        project: dict[str, Any] = {
            "name": self.project_name,
            "region_id": self.region_id,
            "pg_version": self.pg_version,
            "history_retention_seconds": self.history_retention_seconds,
        }
        if self.org_id:
            project["org_id"] = self.org_id
        return {"project": project}

    def changed_fields(self, live: Mapping[str, Any]) -> dict[str, Any]:
        """What a PATCH must send so the live project matches (only what the API can change in place)."""
        fields: dict[str, Any] = {}
        if live.get("name") != self.project_name:
            fields["name"] = self.project_name
        if live.get("history_retention_seconds") != self.history_retention_seconds:
            fields["history_retention_seconds"] = self.history_retention_seconds
        return fields


REQUIRED_KEYS: Final = ("project_name", "region_id", "pg_version", "history_retention_seconds")
_PROBLEM_KEYS: Final = (
    "project_name",
    "region_id",
    "pg_version",
    "history_retention_seconds",
    "org_id",
    "adopt_project_id",
)
INPUT_KEYS: Final = (*_PROBLEM_KEYS, "api_base_url")


def _missing(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, "is required") for key in REQUIRED_KEYS if props.get(key) is None]


class NeonProjectProvider(_NeonProvider):
    """Create, adopt, update, read and (only what it created) delete a Neon project. ID: the project id."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        fields = {key: news.get(key) for key in _PROBLEM_KEYS}
        problems = _missing(news) + project_problems(**fields)
        failures = self.credential_failures()
        failures += [dyn.CheckFailure(prop, f"{prop}: {reason}") for prop, reason in problems]
        normalized = {
            key: int(news[key])
            for key in ("pg_version", "history_retention_seconds")
            if _whole(news.get(key)) is not None
        }
        return dyn.CheckResult(keep_unknowns(news, normalized), failures)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        settings = ProjectSettings.from_props(props)
        with self._client(props) as neon:
            if settings.adopt_project_id:
                project = self._adopt(neon, settings)
                adopted = True
            else:
                project = self._create(neon, settings)
                adopted = False
            branch_id = _default_branch_id(neon, str(project["id"]))
        outs = {**settings.to_props(), **_project_outputs(project, branch_id, adopted=adopted)}
        return dyn.CreateResult(outs["project_id"], outs)

    def _create(self, neon: NeonClient, settings: ProjectSettings) -> dict[str, Any]:
        before = {str(p.get("id")) for p in neon.find_projects(settings.project_name, org_id=settings.org_id)}

        def made_by_us() -> dict[str, Any] | None:  # a lost response: a project with our name, new since
            found = neon.find_projects(settings.project_name, org_id=settings.org_id)
            fresh = [p for p in found if str(p.get("id")) not in before]
            return {"project": fresh[0]} if len(fresh) == 1 else None

        created = recover_create(lambda: neon.create_project(settings.create_body()), made_by_us)
        project = created.get("project")
        if not isinstance(project, dict) or not project.get("id"):
            raise NeonProvisioningError("Neon's create-project response holds no project id")
        return project

    def _adopt(self, neon: NeonClient, settings: ProjectSettings) -> dict[str, Any]:
        project_id = str(settings.adopt_project_id)
        try:
            project = neon.get_project(project_id)
        except NotFound:
            raise NeonConfigError(
                f"Neon project {project_id} (ballast:neonProjectId) does not exist, or the API key cannot "
                "see it: check the id, or unset it to let Ballast create the project",
                prop="adopt_project_id",
            ) from None
        _refuse_fixed_changes(project_id, project, settings)
        fields = settings.changed_fields(project)
        return neon.update_project(project_id, fields) if fields else project

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        with self._client(props) as neon:
            try:
                project = neon.get_project(id_)
            except NotFound:
                return dyn.ReadResult("", {})
            branch_id = _default_branch_id(neon, id_)
        live = {
            "project_name": project.get("name"),
            "region_id": project.get("region_id"),
            "pg_version": project.get("pg_version"),
            "history_retention_seconds": project.get("history_retention_seconds"),
        }
        outputs = _project_outputs(project, branch_id, adopted=bool(props.get("adopted", False)))
        outs = {**props, **live, **outputs}
        return dyn.ReadResult(id_, outs, read_inputs(outs, INPUT_KEYS))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        # An adopted project cannot be replaced (a re-adoption would be the same project): its fixed settings
        # go to Update, which refuses them with the fix.
        adopted = bool(olds.get("adopted")) and olds.get("adopt_project_id") == news.get("adopt_project_id")
        replace = tuple(k for k in REPLACE_KEYS if not (adopted and k in FIXED_AT_CREATION))
        update = UPDATE_KEYS + (FIXED_AT_CREATION if adopted else ())
        replaces = changed_keys(olds, news, replace)
        changes = bool(replaces or changed_keys(olds, news, update))
        return dyn.DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        settings = ProjectSettings.from_props(news)
        with self._client(news) as neon:
            project = neon.get_project(id_)
            _refuse_fixed_changes(id_, project, settings)
            fields = settings.changed_fields(project)
            if fields:
                project = neon.update_project(id_, fields) or project
        branch_id, adopted = str(olds.get("default_branch_id") or ""), bool(olds.get("adopted"))
        return dyn.UpdateResult(
            {**settings.to_props(), **_project_outputs(project, branch_id, adopted=adopted)}
        )

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted") or props.get("adopt_project_id"):
            return  # adopted: released untouched, whatever else happens
        with self._client(props) as neon:
            neon.delete_project(id_)


def _refuse_fixed_changes(project_id: str, live: Mapping[str, Any], settings: ProjectSettings) -> None:
    wanted = {"region_id": settings.region_id, "pg_version": settings.pg_version}
    differ = [key for key, value in wanted.items() if live.get(key) != value]
    if differ:
        listed = ", ".join(f"{key} is {live.get(key)}" for key in differ)
        raise NeonConfigError(
            f"Neon project {project_id}: {listed}, and Neon cannot change that in place. Set "
            "ballast:neonRegion / ballast:neonPgVersion to the project's values; moving to another region or "
            "major version is a new project and a data migration, not a `pulumi up`",
            prop=differ[0],
        )


def _default_branch_id(neon: NeonClient, project_id: str) -> str:
    return str(neon.default_branch(project_id).get("id", ""))


def _project_outputs(project: Mapping[str, Any], default_branch_id: str, *, adopted: bool) -> dict[str, Any]:
    return {
        "project_id": str(project.get("id", "")),
        "history_retention_seconds": project.get("history_retention_seconds"),
        "default_branch_id": default_branch_id,
        "proxy_host": project.get("proxy_host"),
        "adopted": adopted,
    }


# Resource -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeonProjectArgs:
    """Inputs of :class:`NeonProject`; ``adopt_project_id``: adopt that project instead of creating one."""

    project_name: str
    region_id: str
    pg_version: int
    history_retention_seconds: int
    org_id: str | None = None
    adopt_project_id: str | None = None
    api_base_url: str = NEON_API_BASE_URL

    def problems(self) -> list[tuple[str, str]]:
        return project_problems(
            project_name=self.project_name,
            region_id=self.region_id,
            pg_version=self.pg_version,
            history_retention_seconds=self.history_retention_seconds,
            org_id=self.org_id,
            adopt_project_id=self.adopt_project_id,
        )


class NeonProject(dyn.Resource, module="neon", name="Project"):
    """``pulumi-python:dynamic/neon:Project``; outputs project_id, default_branch_id, proxy_host, adopted and
    history_retention_seconds (as Neon reports it)."""

    project_id: pulumi.Output[str]
    default_branch_id: pulumi.Output[str]
    history_retention_seconds: pulumi.Output[int]
    proxy_host: pulumi.Output[str]
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        args: NeonProjectArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: NeonProjectProvider | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "project_name": args.project_name,
            "region_id": args.region_id,
            "pg_version": args.pg_version,
            "history_retention_seconds": args.history_retention_seconds,
            "org_id": args.org_id,
            "adopt_project_id": args.adopt_project_id,
            "api_base_url": args.api_base_url,
            **dict.fromkeys(("project_id", "default_branch_id", "proxy_host", "adopted")),
        }
        super().__init__(provider or NeonProjectProvider(), resource_name, props, opts)
