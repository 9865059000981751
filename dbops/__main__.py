"""``python -m dbops``: ``migrate`` (``./ballast migrate``), ``drill restore`` (``./ballast drill restore``).

Exit codes: 0 done (drill: every check passed), 1 a migration or a drill check failed, 2 bad input (usage,
stack config, a pooled URL, a restore point outside the history window). Never prints a URL or a key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from dbops import DEFAULT_MIGRATIONS_DIR
from dbops.stage import (
    MIGRATION_URL_OUTPUT,
    REPO_ROOT,
    StageError,
    required_output,
    secret_output,
    stack_outputs,
)
from runtime.constants import DATABASE_URL_UNPOOLED

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input; exit 2 with this message."""


def main(argv: Sequence[str] | None = None, *, project_dir: Path = REPO_ROOT) -> int:
    """``project_dir`` holds ``Pulumi.yaml`` and the stack files (the repository; tests pass another)."""
    args = _parser().parse_args(argv)
    args.project_dir = project_dir
    try:
        if args.command == "migrate":
            return _migrate(args)
        return _restore(args)
    except (UsageError, StageError) as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dbops", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply pending migrations over the direct URL")
    migrate.add_argument("--stack", help="a deployed stack: its migrationDatabaseUrl output and settings")
    migrate.add_argument("--dry-run", action="store_true", help="list pending migrations, apply nothing")
    migrate.add_argument(
        "--database-url",
        help=f"the direct URL (beats --stack and ${DATABASE_URL_UNPOOLED}; visible to `ps`)",
    )
    migrate.add_argument("--migrations-dir", type=Path, help="default: ballast:migrationsDir of the stack")
    migrate.add_argument("--lock-timeout", type=float, default=300.0, help="seconds to wait for another run")
    migrate.add_argument("--json", action="store_true", help="print the report as JSON")

    drill = commands.add_parser("drill", help="drills against a deployed stage")
    kinds = drill.add_subparsers(dest="drill", required=True)
    restore = kinds.add_parser("restore", help="branch the stage's database at a past time and check it")
    restore.add_argument("--stack", required=True)
    when = restore.add_mutually_exclusive_group()
    when.add_argument("--at", help="RFC 3339 time, e.g. 2026-12-01T21:00:00Z")
    when.add_argument("--minutes-ago", type=float, help="minutes before now (default 15)")
    restore.add_argument("--project-id", help="default: the stack's neonProjectId output")
    restore.add_argument("--branch-id", help="default: the stack's neonBranchId output")
    restore.add_argument("--migrations-dir", type=Path, help="default: ballast:migrationsDir of the stack")
    restore.add_argument("--json", action="store_true", help="print the report as JSON (for CI)")
    return parser


def _migrate(args: argparse.Namespace) -> int:
    from dbops.migrations import MigrationError, PooledConnectionRefused, migrate

    directory = _migrations_dir(args.migrations_dir, args.stack, args.project_dir)
    url, source = _database_url(args.database_url, args.stack, args.project_dir)
    if not args.json:
        print(f"migrate: database from {source} (not shown); migrations in {directory}", flush=True)
    try:
        report = migrate(url, directory, dry_run=args.dry_run, lock_timeout_seconds=args.lock_timeout)
    except PooledConnectionRefused as error:
        raise UsageError(str(error)) from None
    except MigrationError as error:
        print(f"migrate: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(asdict(report), indent=2))
        return EXIT_OK
    if args.dry_run:
        pending = ", ".join(report.pending) or "none"
        print(f"migrate: dry run, {len(report.pending)} pending: {pending}")
    else:
        applied = ", ".join(report.applied) or "nothing (up to date)"
        print(
            f"migrate: applied {applied} in {report.seconds:.2f}s "
            f"(lock wait {report.lock_wait_seconds:.2f}s); at version {report.expected_version or '(none)'}"
        )
    return EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    from dbops.restore import RestoreRefused, RestoreRequest, render, run_restore_drill
    from dbops.stage import stage_config

    config = stage_config(args.stack, args.project_dir)
    directory = _migrations_dir(args.migrations_dir, args.stack, args.project_dir)
    project_id, branch_id = args.project_id, args.branch_id
    if not (project_id and branch_id):
        outputs = stack_outputs(args.stack, cwd=args.project_dir)
        project_id = project_id or required_output(outputs, "neonProjectId", args.stack)
        branch_id = branch_id or required_output(outputs, "neonBranchId", args.stack)
    request = RestoreRequest.build(
        stack=args.stack,
        config=config,
        project_id=project_id,
        branch_id=branch_id,
        migrations_dir=directory,
        at=args.at,
        minutes_ago=args.minutes_ago,
    )
    try:
        report = run_restore_drill(request)
    except RestoreRefused as error:
        raise UsageError(str(error)) from None
    print(json.dumps(report.as_json(), indent=2) if args.json else render(report))
    return EXIT_OK if report.passed else EXIT_FAILED


def _migrations_dir(explicit: Path | None, stack: str | None, project_dir: Path) -> Path:
    if explicit is not None:
        return explicit
    if stack is None:
        return project_dir / DEFAULT_MIGRATIONS_DIR
    from dbops.stage import stage_config

    return project_dir / stage_config(stack, project_dir).migrations_dir


def _database_url(explicit: str | None, stack: str | None, project_dir: Path) -> tuple[str, str]:
    """The direct URL and where it came from: ``--database-url``, else the stack's output (``--stack``),
    else the environment — explicit arguments first, so a stray variable never redirects a named stage."""
    if explicit:
        return explicit, "--database-url"
    if stack is not None:
        url = secret_output(stack, MIGRATION_URL_OUTPUT, cwd=project_dir)
        return url, f"`pulumi stack output {MIGRATION_URL_OUTPUT} --stack {stack}`"
    from_env = os.environ.get(DATABASE_URL_UNPOOLED, "").strip()
    if from_env:
        return from_env, f"${DATABASE_URL_UNPOOLED}"
    raise UsageError(
        f"no database: pass --stack <name> (reads its {MIGRATION_URL_OUTPUT} output), "
        f"or set {DATABASE_URL_UNPOOLED} to the direct URL"
    )


if __name__ == "__main__":
    sys.exit(main())
