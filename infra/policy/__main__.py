"""The policy pack's entry point for ``pulumi preview --policy-pack infra/policy``: assembles the pack only.

``PolicyPack`` starts the analyzer's gRPC server and never returns, so the rules live in importable modules
(``infra.policy.rules``, assembled by ``infra.policy.pack``). Pulumi runs this file with ``infra/policy`` on
``sys.path``; the repository root goes first so ``infra`` and ``runtime.loopback`` import.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[2])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

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
