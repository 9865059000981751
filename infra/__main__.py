"""``python -m infra plan --stack <name> [--json]``: the offline plan (``infra.plan``).

Only the CLI lives here: the Pulumi program is the repository root's ``__main__.py`` (``Pulumi.yaml`` has no
``main:``), so ``infra`` is always imported as a package, from the root.
"""

from __future__ import annotations

import sys

USAGE = "usage: python -m infra plan --stack <name> [--json]  (the Pulumi program runs under `pulumi up`)"


def cli(argv: list[str]) -> int:
    if argv[:1] == ["plan"]:
        from infra.plan import main as plan_main

        return plan_main(argv[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    if __package__ != "infra":  # python infra/ would put infra/ first on sys.path (secrets.py shadows)
        print(f"run `python -m infra plan` from the repository root.\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    sys.exit(cli(sys.argv[1:]))
