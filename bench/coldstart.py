"""Cold start: importing the function's entry module against importing its dependencies alone, each in
fresh interpreters (median of several runs), and the first invocation (settings, Sentry, first pool
connection) in a fresh process against a warm one."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

from bench.harness import BenchOptions, Unavailable
from bench.report import BenchResult, Goal, Measure
from bench.stats import median

ENTRY_MODULE = "runtime.handler"
REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_REQUIREMENTS = REPO_ROOT / "runtime" / "requirements.txt"
FIRST_PARTY = frozenset({"runtime", "localstage", "infra", "bench", "tests"})
PROBE_TIMEOUT_SECONDS = 60.0
IMPORT_RATIO_GOAL = Goal(1.2, on_ratio=True)

# Runs in a fresh interpreter: the nanoseconds spent importing the given modules, then every module loaded.
# Only `sys`/`time` are imported before the clock starts (both are loaded at interpreter start anyway).
_IMPORT_PROBE = """\
import sys, time
names = sys.argv[1:]
start = time.perf_counter_ns()
for name in names:
    __import__(name)
print(time.perf_counter_ns() - start)
print(" ".join(sorted(sys.modules)))
"""


def run(options: BenchOptions) -> BenchResult:
    repetitions = options.scaled(9, 3)
    entry = _import_probe([ENTRY_MODULE])  # also the warm-up: .pyc files written before anything is timed
    if entry.returncode != 0:
        if f"No module named '{ENTRY_MODULE}'" in entry.stderr or "No module named 'runtime'" in entry.stderr:
            raise Unavailable(f"{ENTRY_MODULE} is not in the tree")
        raise RuntimeError(f"importing {ENTRY_MODULE} failed:\n{entry.stderr[-2000:]}")
    bare_modules = set(_parse_modules(_checked(_import_probe([]))))
    loaded = sorted(_third_party(set(_parse_modules(entry.stdout)) - bare_modules))
    declared = _declared_dependencies()
    deferred = sorted(set(declared) - set(loaded))

    probes = {"entry": [ENTRY_MODULE], "loaded": loaded, "declared": declared}
    for names in probes.values():
        _checked(_import_probe(names))  # warm-up
    samples: dict[str, list[float]] = {key: [] for key in probes}
    for _ in range(repetitions):  # interleaved, so drift on a shared machine hits every probe alike
        for key, names in probes.items():
            samples[key].append(_parse_ms(_checked(_import_probe(names))))
    entry_ms, loaded_ms, declared_ms = (median(samples[key]) for key in ("entry", "loaded", "declared"))

    result = BenchResult("coldstart")
    result.notes += [
        f"median of {repetitions} fresh interpreters each ({sys.executable} -c 'import …'), warm .pyc cache",
        f"loaded at import of {ENTRY_MODULE}: {', '.join(loaded) or 'no third-party package'}",
        f"deferred (declared in runtime/requirements.txt, not loaded at import): {', '.join(deferred) or 'none'}",
    ]
    result.measures += [
        Measure(
            f"import {ENTRY_MODULE}",
            entry_ms,
            "ms",
            baseline=loaded_ms if loaded else None,
            baseline_label="the deps it loads alone",
            goal=IMPORT_RATIO_GOAL if loaded else None,
        ),
        Measure(
            f"import {ENTRY_MODULE}",
            entry_ms,
            "ms",
            baseline=declared_ms,
            baseline_label="all runtime deps eagerly",
            goal=IMPORT_RATIO_GOAL,
        ),
    ]
    return result


def _declared_dependencies() -> list[str]:
    """Top-level import names of the distributions runtime/requirements.txt pins (what the Lambda ships)."""
    wanted: set[str] = set()
    for line in RUNTIME_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if match:
            wanted.add(_canonical(match.group(1)))
    modules = [
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if any(_canonical(dist) in wanted for dist in distributions) and not module.startswith("_")
    ]
    return sorted(modules)


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _third_party(modules: set[str]) -> set[str]:
    top_level = {name.split(".", 1)[0] for name in modules}
    return {
        name
        for name in top_level
        if name not in sys.stdlib_module_names and name not in FIRST_PARTY and not name.startswith("_")
    }


def _import_probe(names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *names],
        cwd=REPO_ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )


def _clean_env() -> dict[str, str]:
    """The parent's environment without Python knobs that change import behaviour."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}


def _checked(process: subprocess.CompletedProcess[str]) -> str:
    if process.returncode != 0:
        raise RuntimeError(f"probe {process.args[3:]} failed:\n{process.stderr[-2000:]}")
    return process.stdout


def _parse_ms(stdout: str) -> float:
    return int(stdout.splitlines()[0]) / 1e6


def _parse_modules(stdout: str) -> list[str]:
    return stdout.splitlines()[1].split()
