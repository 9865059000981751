"""The Pulumi program: ``Pulumi.yaml`` has no ``main:``, so the engine runs this directory.

The Python language host starts it from the repository root (its working directory) with
``runpy.run_path(".", run_name="__main__")``, which puts the root first on ``sys.path``: ``infra`` and
``runtime`` import as packages, and nothing in them shadows the standard library. The dynamic-provider host
(``python -m pulumi.dynamic``, which unpickles ``infra.providers.*``) and ``pulumi install`` work from the
same directory, so ``.venv`` and ``requirements.txt`` here are theirs too. ``infra.stack.run()`` declares
the stage; a bad config becomes one Pulumi error per problem, never a traceback.
"""

from __future__ import annotations

import sys

USAGE = "This directory is the Pulumi program: run it with `pulumi up --stack <name>`.\n" + (
    "Offline: python -m infra plan --stack <name> [--json]"
)


def _under_pulumi_engine() -> bool:
    from pulumi.runtime.settings import get_monitor

    return get_monitor() is not None


if __name__ == "__main__":
    if not _under_pulumi_engine():  # python . / python __main__.py
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    from infra.stack import run

    run()
