"""What the command line needs to know about a deployed stage: its validated settings (read from the stack
files, as the offline plan reads them) and its stack outputs (through the Pulumi CLI)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

from infra.config import StageConfig

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
PULUMI_TIMEOUT_SECONDS: Final = 120
MIGRATION_URL_OUTPUT: Final = "migrationDatabaseUrl"


class StageError(Exception):
    """The stage cannot be read (bad config, no Pulumi CLI, no such output); never holds a secret value."""


def stage_config(stack: str, project_dir: Path = REPO_ROOT) -> StageConfig:
    """The stack's :class:`StageConfig` from ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` (all problems)."""
    from infra.config import NAMESPACE, ConfigError, load_stage_config
    from infra.plan.stackfiles import StackFileError, load_stack_files

    try:
        files = load_stack_files(project_dir, stack)
    except StackFileError as error:
        raise StageError("; ".join(error.problems)) from None
    prefix = f"{NAMESPACE}:"
    raw = {key.removeprefix(prefix): value for key, value in files.config.items() if key.startswith(prefix)}
    secret = frozenset(k.removeprefix(prefix) for k in files.secret_keys if k.startswith(prefix))
    try:
        return load_stage_config(stack, raw, secret_keys=secret)
    except ConfigError as error:
        raise StageError("; ".join(error.problems)) from None


def stack_outputs(stack: str, *, cwd: Path = REPO_ROOT) -> dict[str, Any]:
    """``pulumi stack output --json --stack <stack>`` as a dict (secret outputs stay ``[secret]``)."""
    outputs = _pulumi_output(["--json", "--stack", stack], stack, cwd)
    if not isinstance(outputs, dict):
        raise StageError(f"`pulumi stack output --stack {stack}` did not print an object")
    return outputs


def secret_output(stack: str, name: str, *, cwd: Path = REPO_ROOT) -> str:
    """One secret output in plain text (``pulumi stack output <name> --show-secrets``): only that one."""
    value = _pulumi_output([name, "--json", "--show-secrets", "--stack", stack], stack, cwd)
    return required_output({name: value}, name, stack)


def _pulumi_output(args: list[str], stack: str, cwd: Path) -> Any:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise StageError(
            "the Pulumi CLI is not on PATH: install it and `pulumi login`, or pass the values explicitly"
        )
    argv = [pulumi, "stack", "output", *args]
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise StageError(
            f"`pulumi stack output --stack {stack}` took over {PULUMI_TIMEOUT_SECONDS}s"
        ) from None
    if done.returncode != 0:
        # stderr names the problem (no such stack, not logged in); outputs are on stdout, never shown.
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise StageError(f"`pulumi stack output --stack {stack}` failed: {reason}")
    try:
        return json.loads(done.stdout or "null")
    except ValueError:
        raise StageError(f"`pulumi stack output --stack {stack}` did not print JSON") from None


def required_output(outputs: dict[str, Any], name: str, stack: str) -> str:
    value = outputs.get(name)
    if not isinstance(value, str) or not value:
        raise StageError(
            f"stack {stack!r} has no {name} output: deploy it first (`pulumi up --stack {stack}`)"
        )
    return value
