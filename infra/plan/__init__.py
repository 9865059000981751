"""``python -m infra plan --stack <name> [--json]``: the offline plan — the real program under Pulumi's mocks,
then the policy pack over what it declared, exactly as ``pulumi preview --policy-pack infra/policy`` would.

No credentials, no Pulumi CLI, no network. Exit codes: 0 clean or advisory violations only, 1 a mandatory
violation, 2 a configuration error (stack files, stage config, policy config) or a program that cannot run.

Modules: ``stackfiles`` (Pulumi.yaml + Pulumi.<stack>.yaml, secrets as placeholders), ``run`` (the program
under mocks), ``record`` (the recording monitor), ``render`` (text and JSON). The policies and their evaluator
live in ``infra.policy``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

EXIT_OK: Final = 0
EXIT_MANDATORY_VIOLATION: Final = 1
EXIT_CONFIG_ERROR: Final = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra plan",
        description="Offline plan: run the Pulumi program under mocks and check it with the policy pack.",
    )
    parser.add_argument("--stack", required=True, help="stack (= stage): production, staging, pr-<n>, …")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument(
        "--cwd",
        type=Path,
        default=Path.cwd(),
        help="project directory holding Pulumi.yaml and Pulumi.<stack>.yaml (default: the current one)",
    )
    parser.add_argument(
        "--config-file",
        type=Path,
        help="use this stack config file instead of Pulumi.<stack>.yaml (like `pulumi --config-file`)",
    )
    parser.add_argument(
        "--policy-pack-config",
        type=Path,
        help="JSON policy config, as for `pulumi preview --policy-pack-config` (levels, productionStacks, …)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from infra.plan.offline import PlanError, make_plan  # the program and the pack import only when used
    from infra.plan.render import as_data, as_text

    try:
        plan = make_plan(
            args.cwd.resolve(),
            args.stack,
            stack_file=args.config_file,
            policy_config_file=args.policy_pack_config,
        )
    except PlanError as error:
        print(f"plan --stack {args.stack}: cannot plan:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.json:
        json.dump(as_data(plan), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(as_text(plan))
    return plan.exit_code
