"""Cold start, in fresh interpreters (median of several runs, interleaved):

- importing the function's entry module against importing the runtime's dependencies alone, and which
  of them the entry defers;
- the first invocation (settings, Sentry init, first pool connection, `SELECT 1`) against a warm one;
- every module a first invocation has loaded (ours and theirs) against those third-party modules alone:
  what Ballast's own code adds to a full cold start once nothing is deferred any more;
- the example app's handlers: a Powertools router (``app/items``) against a plain ``@lambda_handler``
  function (``app/stats``), i.e. what the router costs the one function that ships it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bench.harness import BenchOptions, Unavailable
from bench.report import BenchResult, Goal, Measure
from bench.services import local_stage, sentry_ingest, stage_notes
from bench.stats import median
from runtime import constants

ENTRY_MODULE = "runtime.handler"
FIRST_PARTY = frozenset({"runtime", "localstage", "infra", "bench", "tests"})
REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_REQUIREMENTS = REPO_ROOT / "runtime" / "requirements.txt"
PROBE_TIMEOUT_SECONDS = 60.0
IMPORT_RATIO_GOAL = Goal(1.2, on_ratio=True)
# (code directory, handler module) of the example app's two HTTP styles
ROUTER_FUNCTION = ("app/items", "items_api")
PLAIN_FUNCTION = ("app/stats", "items_stats")
POWERTOOLS_MODULE = "aws_lambda_powertools.event_handler"

# Fresh interpreter: nanoseconds spent importing argv[2:], then every module loaded. argv[1] "lenient"
# skips names that cannot be imported on their own (aliases some packages put in sys.modules).
# Only `sys`/`time` come before the clock (both are loaded at interpreter start anyway).
_IMPORT_PROBE = """\
import sys, time
lenient, names = sys.argv[1] == "lenient", sys.argv[2:]
start = time.perf_counter_ns()
for name in names:
    try:
        __import__(name)
    except ImportError:
        if not lenient:
            raise
print(time.perf_counter_ns() - start)
print(" ".join(sorted(sys.modules)))
"""

# Fresh interpreter, env pointed at a live stage: import the entry, invoke it twice (cold, then warm).
_INVOKE_PROBE = """\
import sys, time, types
start = time.perf_counter_ns()
from runtime.handler import handle
imported = time.perf_counter_ns()
import json
event = json.loads(sys.argv[1])
context = types.SimpleNamespace(
    function_name="ballast-bench", aws_request_id="bench", get_remaining_time_in_millis=lambda: 30000
)
import contextlib, os
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # the access lines: written, not read
    before_first = time.perf_counter_ns()
    first = handle(event, context)
    after_first = time.perf_counter_ns()
    second = handle(event, context)
    after_second = time.perf_counter_ns()
statuses = first["statusCode"], second["statusCode"]
print(imported - start, after_first - before_first, after_second - after_first, *statuses)
print(" ".join(sorted(sys.modules)))
"""


def run(options: BenchOptions) -> BenchResult:
    repetitions = options.scaled(9, 3)
    entry = _probe([ENTRY_MODULE])  # also the warm-up: .pyc files are written before anything is timed
    if entry.returncode != 0:
        if "No module named 'runtime" in entry.stderr:
            raise Unavailable(f"{ENTRY_MODULE} is not in the tree")
        raise RuntimeError(f"importing {ENTRY_MODULE} failed:\n{entry.stderr[-2000:]}")
    bare = set(_modules(_checked(_probe([]))))
    at_import = sorted(_third_party_top_level(set(_modules(entry.stdout)) - bare))
    declared = _declared_dependencies()

    result = BenchResult("coldstart")
    result.notes += [
        f"fresh interpreters ({Path(sys.executable).name} -c), median of {repetitions}, warm .pyc cache",
        f"third-party packages loaded by `import {ENTRY_MODULE}`: {', '.join(at_import) or 'none'}",
        "deferred to first use (in runtime/requirements.txt, not loaded at import): "
        + (", ".join(sorted(set(declared) - set(at_import))) or "none"),
    ]
    probes = {"entry": [ENTRY_MODULE], "declared": declared}
    if at_import:
        probes["at_import"] = at_import
    timings = _median_import_ms(probes, repetitions)
    result.measures.append(
        Measure(
            f"import {ENTRY_MODULE}",
            timings["entry"],
            "ms",
            timings["declared"],
            "the runtime deps alone",
            IMPORT_RATIO_GOAL,
        )
    )
    if at_import:
        result.measures.append(
            Measure(
                f"import {ENTRY_MODULE}",
                timings["entry"],
                "ms",
                timings["at_import"],
                "the deps it imports, alone",
                IMPORT_RATIO_GOAL,
            )
        )
    try:
        _first_invocation(options, result, repetitions)
    except Unavailable as exc:
        result.gaps.append(("first invocation", str(exc)))
    _router_cost(result, repetitions)
    return result


def _router_cost(result: BenchResult, repetitions: int) -> None:
    """Import of the Powertools router function against the plain one (same runtime underneath)."""
    router_dir, router = ROUTER_FUNCTION
    plain_dir, plain = PLAIN_FUNCTION
    probe = _probe([router], path=REPO_ROOT / router_dir)
    if probe.returncode != 0:
        result.gaps.append(("Powertools router import", "aws-lambda-powertools is not installed here"))
        return
    plain_loaded = _modules(_checked(_probe([plain], path=REPO_ROOT / plain_dir)))
    paths = {"router": REPO_ROOT / router_dir, "plain": REPO_ROOT / plain_dir}
    timings = _median_import_ms(
        {"router": [router], "plain": [plain], "powertools": [POWERTOOLS_MODULE]}, repetitions, paths=paths
    )
    result.measures += [
        Measure(
            f"import {router} (Powertools router)",
            timings["router"],
            "ms",
            timings["plain"],
            f"import {plain} (plain @lambda_handler)",
        ),
        Measure(f"import {POWERTOOLS_MODULE} alone", timings["powertools"], "ms"),
    ]
    powertools_in_plain = any(name.startswith("aws_lambda_powertools") for name in plain_loaded)
    result.notes.append(
        f"{plain} loads Powertools: {'YES' if powertools_in_plain else 'no'} (it ships in {router_dir}'s own "
        "package, not the layer)"
    )


def _first_invocation(options: BenchOptions, result: BenchResult, repetitions: int) -> None:
    from runtime.serve import build_event

    event = json.dumps(build_event("GET", "/api/health", [("user-agent", "ballast-bench")], b"", "127.0.0.1"))
    with local_stage() as stage, sentry_ingest() as dsn:
        env = _clean_env() | stage.development_env() | {constants.SENTRY_DSN: dsn}
        runs = [_invoke(event, env) for _ in range(repetitions)]
    loaded = runs[0][1]
    result.notes += stage_notes()
    result.notes.append(
        "first invocation = settings + Sentry init (DSN: a local sink) + pool open + first connection "
        "+ SELECT 1"
    )
    imported, first, warm = (median([figures[i] for figures, _ in runs]) for i in range(3))
    result.measures += [
        Measure("first invocation", first, "ms", warm, "warm invocation"),
        Measure("import + first invocation", imported + first, "ms"),
    ]
    # With everything loaded: our modules + the third-party ones, against those third-party ones alone.
    theirs = sorted(name for name in loaded if _is_third_party(name))
    ours = sorted(name for name in loaded if name.split(".", 1)[0] == "runtime")
    timings = _median_import_ms({"all": [ENTRY_MODULE, *ours, *theirs], "theirs": theirs}, repetitions)
    result.measures.append(
        Measure(
            "imports of a first invocation",
            timings["all"],
            "ms",
            timings["theirs"],
            "its third-party modules alone",
            IMPORT_RATIO_GOAL,
        )
    )
    result.notes.append(f"runtime modules a first invocation loads: {', '.join(ours)}")


def _invoke(event: str, env: Mapping[str, str]) -> tuple[list[float], list[str]]:
    process = subprocess.run(
        [sys.executable, "-c", _INVOKE_PROBE, event],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    if process.returncode != 0:
        if "No module named 'runtime." in process.stderr:
            missing = re.search(r"No module named '([\w.]+)'", process.stderr)
            raise Unavailable(f"{missing.group(1) if missing else 'a runtime module'} is not in the tree")
        raise RuntimeError(f"first-invocation probe failed:\n{process.stderr[-2000:]}")
    figures, modules = process.stdout.splitlines()[:2]
    imported, first, warm, first_status, warm_status = (int(part) for part in figures.split())
    if (first_status, warm_status) != (200, 200):
        raise RuntimeError(f"health answered {first_status} then {warm_status} in the first-invocation probe")
    return [imported / 1e6, first / 1e6, warm / 1e6], modules.split()


def _median_import_ms(
    probes: Mapping[str, list[str]], repetitions: int, *, paths: Mapping[str, Path] | None = None
) -> dict[str, float]:
    paths = paths or {}
    for key, names in probes.items():
        _checked(_probe(names, lenient=True, path=paths.get(key)))  # warm-up
    samples: dict[str, list[float]] = {key: [] for key in probes}
    for _ in range(repetitions):  # interleaved, so drift on a shared machine hits every probe alike
        for key, names in probes.items():
            stdout = _checked(_probe(names, lenient=True, path=paths.get(key)))
            samples[key].append(int(stdout.splitlines()[0]) / 1e6)
    return {key: median(values) for key, values in samples.items()}


def _declared_dependencies() -> list[str]:
    """Top-level import names of the distributions runtime/requirements.txt pins (what the Lambda ships)."""
    wanted: set[str] = set()
    for line in RUNTIME_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if match:
            wanted.add(_canonical(match.group(1)))
    return sorted(
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if any(_canonical(dist) in wanted for dist in distributions) and not module.startswith("_")
    )


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _is_third_party(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top not in sys.stdlib_module_names and top not in FIRST_PARTY and not top.startswith("_")


def _third_party_top_level(modules: set[str]) -> set[str]:
    return {name.split(".", 1)[0] for name in modules if _is_third_party(name)}


def _probe(
    names: list[str], *, lenient: bool = False, path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``path``: a function's code directory, first on ``sys.path`` as Lambda puts the zip's root."""
    env = _clean_env() | ({"PYTHONPATH": str(path)} if path is not None else {})
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, "lenient" if lenient else "strict", *names],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )


def _clean_env() -> dict[str, str]:
    """The parent's environment without Python knobs that change imports, nor runtime settings."""
    runtime_names = {value for name, value in vars(constants).items() if name.isupper()}
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTHON") and key not in runtime_names and not key.startswith("FEATURE_")
    }


def _checked(process: subprocess.CompletedProcess[str]) -> str:
    if process.returncode != 0:
        raise RuntimeError(f"probe {process.args[4:]} failed:\n{process.stderr[-2000:]}")
    return process.stdout


def _modules(stdout: str) -> list[str]:
    return stdout.splitlines()[1].split()
