"""Which preview stacks (``pr-<n>``) to create, update or destroy, from recorded state — the decisions the
pull-request workflows act on, kept out of untestable shell.

```bash
pulumi stack ls --json > stacks.json
gh pr list --state all --limit 500 --json number,state,headRefOid > pulls.json   # or: gh pr view N --json …
python -m infra.previews plan --stacks stacks.json --pulls pulls.json [--only N] [--format json|lines]
```

Rules, per pull request and per ``pr-*`` stack (other stacks are never touched):

- an **open** pull request without its stack → ``create`` (``pulumi stack init`` then ``pulumi up``); with
  it → ``update`` (``pulumi up``);
- a **closed or merged** pull request whose stack exists → ``destroy`` (``pulumi destroy`` then
  ``pulumi stack rm``); without it → nothing;
- a ``pr-*`` stack whose pull request is not in the list → ``skip`` (never destroyed on a guess: list more
  pull requests), and a stack with an update in progress is skipped too (the next sweep takes it).

``--only N`` limits the decisions to pull request N (the event-driven workflow); without it, every pull
request and stack is decided (the scheduled sweep, which prints ``--actions destroy`` only). Output: a JSON
list of decisions, or one line per decision, ``<action> <stack> <number> <head sha>``, for a shell loop.
Exit status: 0, or 2 when an input is missing or malformed (the message names the file and the entry; no
traceback).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from runtime.constants import PREVIEW_STAGE_PATTERN

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
PREVIEW_STACK: Final = re.compile(rf"^{PREVIEW_STAGE_PATTERN}$")
PREVIEW_PREFIX: Final = "pr-"
T = TypeVar("T")


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DESTROY = "destroy"
    SKIP = "skip"


class StackEntry(BaseModel):
    """One item of ``pulumi stack ls --json`` (only what the decisions read; the rest is ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: Annotated[str, Field(min_length=1)]
    update_in_progress: bool = Field(default=False, alias="updateInProgress")

    @property
    def short_name(self) -> str:
        """``org/project/pr-7`` (Pulumi Cloud) or ``pr-7`` (self-managed backends) → ``pr-7``."""
        return self.name.rsplit("/", 1)[-1]


class PullRequest(BaseModel):
    """One item of ``gh pr list --json number,state,headRefOid`` (or ``gh pr view``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    number: Annotated[int, Field(ge=1, strict=True)]
    state: Literal["OPEN", "CLOSED", "MERGED"]
    head: str = Field(default="", alias="headRefOid")


@dataclass(frozen=True)
class Decision:
    action: Action
    stack: str
    number: int
    head: str
    reason: str

    def line(self) -> str:
        return f"{self.action.value} {self.stack} {self.number} {self.head or '-'}"


class InputError(ValueError):
    """An input file is missing or malformed; the message names the file and the entry."""


def stack_name(number: int) -> str:
    return f"{PREVIEW_PREFIX}{number}"


def decide(
    stacks: Sequence[StackEntry], pulls: Sequence[PullRequest], *, only: int | None = None
) -> list[Decision]:
    """The decisions, ordered by pull request number (pure: no I/O)."""
    previews = {s.short_name: s for s in stacks if PREVIEW_STACK.match(s.short_name)}
    by_number = {p.number: p for p in pulls}
    numbers = sorted(set(by_number) | {int(name.removeprefix(PREVIEW_PREFIX)) for name in previews})
    decisions: list[Decision] = []
    for number in numbers:
        if only is not None and number != only:
            continue
        name, pull, stack = stack_name(number), by_number.get(number), previews.get(stack_name(number))
        decision = _decide_one(name, number, pull, stack)
        if decision is not None:
            decisions.append(decision)
    return decisions


def _decide_one(
    name: str, number: int, pull: PullRequest | None, stack: StackEntry | None
) -> Decision | None:
    if pull is None:
        return Decision(Action.SKIP, name, number, "", "its pull request is not in the list: not destroyed")
    if stack is not None and stack.update_in_progress:
        return Decision(
            Action.SKIP, name, number, pull.head, "an update is in progress: the next run decides"
        )
    if pull.state == "OPEN":
        if stack is None:
            return Decision(Action.CREATE, name, number, pull.head, "the pull request is open, no stack yet")
        return Decision(Action.UPDATE, name, number, pull.head, "the pull request is open")
    if stack is not None:
        return Decision(Action.DESTROY, name, number, pull.head, f"the pull request is {pull.state.lower()}")
    return None


# Reading the recorded state ---------------------------------------------------------------------------------


def load_stacks(path: Path) -> list[StackEntry]:
    return _load(path, TypeAdapter(list[StackEntry]), single=False)


def load_pulls(path: Path) -> list[PullRequest]:
    return _load(path, TypeAdapter(list[PullRequest]), single=True)


def _load(path: Path, adapter: TypeAdapter[list[T]], *, single: bool) -> list[T]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot be read ({type(error).__name__})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not JSON (line {error.lineno}, column {error.colno})") from None
    if single and isinstance(data, dict):
        data = [data]  # `gh pr view N --json …` answers one object
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list (as `--json` prints it)")
    try:
        return adapter.validate_python(data)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in item["loc"])
            problems.append(f"entry {where}: {item['msg']}")
        raise InputError(f"{path}: " + "; ".join(problems[:5])) from None


# Command line ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.previews", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="print the decisions for the recorded stacks and pull requests")
    plan.add_argument("--stacks", type=Path, required=True, help="`pulumi stack ls --json` output")
    plan.add_argument("--pulls", type=Path, required=True, help="`gh pr list --json number,state,headRefOid`")
    plan.add_argument("--only", type=int, help="decide for this pull request number only")
    plan.add_argument(
        "--actions",
        default=",".join(a.value for a in Action),
        help="comma-separated actions to print (the sweep: destroy)",
    )
    plan.add_argument("--format", choices=("json", "lines"), default="json")
    args = parser.parse_args(argv)  # exits 2 on a usage error, as argparse does
    try:
        wanted = {Action(a.strip()) for a in args.actions.split(",") if a.strip()}
    except ValueError:
        parser.error(f"--actions: choose from {', '.join(a.value for a in Action)}")

    try:
        decisions = decide(load_stacks(args.stacks), load_pulls(args.pulls), only=args.only)
        decisions = [d for d in decisions if d.action in wanted]
    except InputError as error:
        print(f"previews: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "lines":
        for decision in decisions:
            print(decision.line())
    else:
        print(json.dumps([asdict(d) for d in decisions], indent=2))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
