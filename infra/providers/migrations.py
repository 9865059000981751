"""``SchemaMigrations``: the stage's migrations, applied by ``pulumi up`` before its functions change.

Deploy order
    The program passes this resource's ``version`` output into every function's environment
    (``BALLAST_SCHEMA_VERSION``), so the engine cannot create or update a function before the migrations
    of that same ``pulumi up`` have been applied — and when a migration fails, this resource fails, the
    outputs the functions wait for never resolve, and the update stops with the old code still serving.
    A first deploy works the same way: the database is created, migrated, then the function appears.

What runs where
    ``create``/``update`` run in the engine's dynamic-provider process on the machine that runs
    ``pulumi up`` (a laptop or CI), over the stage's direct URL (``dbops.migrations``: pooler refused,
    advisory lock, one transaction per migration). Nothing of it is in the Lambda layer.

Inputs and state
    ``database_url`` is a secret input and never an output. ``fingerprint`` (SHA-256 of the migration
    files) and ``version`` (the last id) are computed by the program, so a preview shows a pending change
    when a migration file changes, and ``up`` refuses to apply files that changed since the program read
    them. ``database`` (host and database name, no credentials) makes a replaced branch migrate anew; a
    rotated password does not. Delete does nothing: the schema goes with its database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pulumi
import pulumi.dynamic as dyn

from infra.providers.props import is_unknown, read_inputs, required_failures

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DATABASE_URL: Final = "database_url"
OUTPUT_KEYS: Final = ("migrations_dir", "fingerprint", "version", "database", "applied")


class MigrationsChanged(Exception):
    """The migration files differ from what the program planned with."""


def database_identity(url: str) -> str:
    """Which database a URL names, without its credentials (host, port, database), hashed."""
    parts = urlsplit(url)
    where = f"{(parts.hostname or '').lower()}:{parts.port or 5432}{parts.path}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


class SchemaMigrationsProvider(dyn.ResourceProvider):
    """Applies ``migrations_dir`` to ``database_url`` on create and whenever the files change."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return dyn.CheckResult(news, required_failures(news, (DATABASE_URL, "migrations_dir", "fingerprint")))

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        outs = self._apply(props)
        return dyn.CreateResult(f"migrations-{outs['database']}", outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        url = news.get(DATABASE_URL)
        changed = [
            key
            for key in ("migrations_dir", "fingerprint", "version")
            if is_unknown(news.get(key)) or news.get(key) != olds.get(key)
        ]
        if not isinstance(url, str) or is_unknown(url) or database_identity(url) != olds.get("database"):
            changed.append(DATABASE_URL)
        return dyn.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(self._apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        outs: dict[str, Any] = {k: props[k] for k in OUTPUT_KEYS if k in props}
        # Nothing to read back remotely (the schema is the migrations' record); the URL is never stored.
        return dyn.ReadResult(id_, outs, read_inputs(outs, ("migrations_dir", "fingerprint", "version")))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the schema lives and dies with its database

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        from dbops.migrations import fingerprint, migrate

        directory = REPO_ROOT / str(props["migrations_dir"])
        if fingerprint(directory) != props["fingerprint"]:
            raise MigrationsChanged(
                f"the files in {props['migrations_dir']} changed after the program read them: "
                "run `pulumi up` again"
            )
        url = str(props[DATABASE_URL])
        report = migrate(url, directory)  # raises on a pooled URL or a failed migration: the update stops
        return {
            "migrations_dir": props["migrations_dir"],
            "fingerprint": props["fingerprint"],
            "version": report.expected_version or "",
            "database": database_identity(url),
            "applied": list(report.applied),
        }


@dataclass(frozen=True)
class SchemaMigrationsArgs:
    database_url: pulumi.Input[str]  # the stage's direct URL (a secret Output)
    migrations_dir: str  # relative to the repository root (ballast:migrationsDir)


class SchemaMigrations(dyn.Resource, module="ballast", name="SchemaMigrations"):
    """``pulumi-python:dynamic/ballast:SchemaMigrations``; ``version`` is the last applied migration id."""

    version: pulumi.Output[str]
    applied: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        args: SchemaMigrationsArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: SchemaMigrationsProvider | None = None,
    ) -> None:
        from dbops.migrations import expected_version, fingerprint

        directory = REPO_ROOT / args.migrations_dir
        props: dict[str, Any] = {
            DATABASE_URL: pulumi.Output.secret(args.database_url),
            "migrations_dir": args.migrations_dir,
            "fingerprint": fingerprint(directory),
            "version": expected_version(directory) or "",
            "database": None,
            "applied": None,
        }
        super().__init__(provider or SchemaMigrationsProvider(), resource_name, props, opts)
