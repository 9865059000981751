"""Two entries in one file, kept apart:

- **The Pulumi program.** ``Pulumi.yaml`` says ``main: infra/``; the Python language host runs this file
  with ``runpy.run_path("infra/", run_name="__main__")`` inside ``pulumi.runtime.run_in_stack`` (see
  pulumi-language-python-exec). That puts ``infra/`` itself first on ``sys.path`` — where ``secrets.py``
  and ``config.py`` would shadow the standard library's ``secrets`` and any top-level ``config`` — and
  leaves the repository root off it. So the path is fixed first, then ``infra.stack.run()`` declares the
  stage; a bad config becomes one Pulumi error per problem, never a traceback.
- **The CLI.** ``python -m infra plan --stack <name> [--json]`` runs the offline plan (``infra.plan``).
"""

from __future__ import annotations

import sys
from pathlib import Path

INFRA_DIR = Path(__file__).resolve().parent
REPO_ROOT = INFRA_DIR.parent
USAGE = "usage: python -m infra plan --stack <name> [--json]  (the Pulumi program runs under `pulumi up`)"


def _put_repo_root_on_path() -> None:
    def resolves_to_infra(entry: str) -> bool:
        try:
            return Path(entry or ".").resolve() == INFRA_DIR
        except OSError:
            return False

    sys.path[:] = [entry for entry in sys.path if not resolves_to_infra(entry)]
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def cli(argv: list[str]) -> int:
    if argv[:1] == ["plan"]:
        from infra.plan import main as plan_main

        return plan_main(argv[1:])
    print(USAGE, file=sys.stderr)
    return 2


def _under_pulumi_engine() -> bool:
    from pulumi.runtime.settings import get_monitor

    return get_monitor() is not None


if __name__ == "__main__":
    _put_repo_root_on_path()
    if __package__ == "infra":  # python -m infra …
        sys.exit(cli(sys.argv[1:]))
    if not _under_pulumi_engine():  # python infra/ …
        print(
            f"infra/ is the Pulumi program: run it with `pulumi up --stack <name>`.\n{USAGE}", file=sys.stderr
        )
        sys.exit(2)
    from infra.stack import run

    run()
