"""The policy pack's entry point for ``pulumi preview --policy-pack infra/policy``: assembles the pack only.

``PolicyPack`` starts the analyzer's gRPC server and never returns, so the rules live in importable modules
(``infra.policy.rules``, assembled by ``infra.policy.pack``). The engine runs this file with
``python -m pulumi.policy <engine> <pack dir>`` from the pack directory, which puts ``infra/policy`` itself on
``sys.path`` (twice: the working directory and ``runpy.run_path``) and leaves the repository root off. So the
pack directory is taken off (its modules import as ``infra.policy.*`` only) and the root goes first, for
``infra`` and ``runtime.loopback``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACK_DIR.parents[1]


def _is_pack_dir(entry: str) -> bool:
    try:
        return Path(entry or ".").resolve() == PACK_DIR
    except OSError:
        return False


sys.path[:] = [
    str(REPO_ROOT),
    *(entry for entry in sys.path if not _is_pack_dir(entry) and entry != str(REPO_ROOT)),
]

from pulumi_policy import PolicyPack  # noqa: E402 - after the sys.path fix above

from infra.policy.pack import (  # noqa: E402
    PACK_ENFORCEMENT_LEVEL,
    PACK_NAME,
    build_policies,
    initial_config,
)

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=PACK_ENFORCEMENT_LEVEL,
    initial_config=initial_config(),
)
