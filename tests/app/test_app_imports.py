"""Import cost stays with the function that pays for it: Powertools is in the items function's own
package (``app/items/requirements.txt``), so neither the layer's handlers nor the example's other functions
load it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
POWERTOOLS = "aws_lambda_powertools"
PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
__import__(sys.argv[2])
print(" ".join(sorted(sys.modules)))
"""


def modules_after_import(code_dir: str, module: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO_ROOT / code_dir), module],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return set(completed.stdout.split())


@pytest.mark.parametrize(
    ("code_dir", "module"),
    [("runtime", "runtime.handler"), ("app/stats", "items_stats"), ("app/cleanup", "items_cleanup")],
)
def test_functions_without_a_router_never_import_powertools(code_dir: str, module: str) -> None:
    loaded = modules_after_import(code_dir, module)
    assert module in loaded
    assert not {name for name in loaded if name.split(".", 1)[0] == POWERTOOLS}


def test_the_router_function_does() -> None:
    loaded = modules_after_import("app/items", "items_api")
    assert f"{POWERTOOLS}.event_handler" in loaded
    assert "boto3" not in loaded
    assert "botocore" not in loaded
