"""Artifact: the Lambda layer zip `infra/build.py` makes for the stage defaults (architecture and Python of
`infra.config.StageConfig`), its size zipped and unzipped, and which packages weigh the most; then the
example app's function packages (`app/*`: size, and what its own requirements add), and a rebuild of all of
them after a change to one function's code (in a copy of `app/`, its own cache) against a rebuild of none."""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bench.harness import BenchOptions
from bench.report import BenchResult, Goal, Measure

MB = 1_000_000  # AWS quotes its Lambda size limits in MB; decimal is the stricter reading of the goal
ZIPPED_GOAL = Goal(15.0)
TOP_CONTRIBUTORS = 8
APP_DIR = "app"
CHANGED_FUNCTION = "stats"  # a function without requirements: its rebuild is a zip, no pip

if TYPE_CHECKING:
    from infra.build import Architecture


def run(options: BenchOptions) -> BenchResult:
    from infra.build import LAYER_PREFIX, Architecture, BuildSpec, build_layer, planned_layer
    from infra.config import StageConfig

    fields = StageConfig.model_fields
    architecture = cast(Architecture, fields["lambda_architecture"].default)
    spec = BuildSpec.for_runtime(str(fields["lambda_runtime"].default), architecture)
    cached = planned_layer(spec).path.is_file()
    started = time.monotonic()
    artifact = build_layer(spec)
    seconds = time.monotonic() - started

    zipped_by_package: Counter[str] = Counter()
    unzipped_by_package: Counter[str] = Counter()
    with zipfile.ZipFile(artifact.path) as archive:
        for info in archive.infolist():
            package = _package_of(info.filename, LAYER_PREFIX)
            zipped_by_package[package] += info.compress_size
            unzipped_by_package[package] += info.file_size
    zipped = artifact.path.stat().st_size

    result = BenchResult("artifact")
    result.notes += [
        f"layer for {spec.architecture} / Python {spec.python_version}: {artifact.path.name} "
        f"({len(artifact.entries)} files; {'reused from build/' if cached else 'built'} in {seconds:.1f} s)",
        "largest contributors (zipped / unzipped): "
        + ", ".join(
            f"{name} {size / MB:.2f} / {unzipped_by_package[name] / MB:.2f} MB"
            for name, size in zipped_by_package.most_common(TOP_CONTRIBUTORS)
        ),
    ]
    result.measures += [
        Measure("layer zipped", zipped / MB, "MB", goal=ZIPPED_GOAL),
        Measure("layer unzipped", sum(unzipped_by_package.values()) / MB, "MB"),
        Measure("runtime/ (ours) zipped", zipped_by_package["runtime"] / 1000, "kB"),
    ]
    _function_packages(result, spec.architecture, spec.python_version)
    return result


def _function_packages(result: BenchResult, architecture: Architecture, python_version: str) -> None:
    from infra.build import REPO_ROOT, CodeSpec, build_code

    with tempfile.TemporaryDirectory(prefix="ballast-bench-code-") as work:
        app = Path(work) / "app"
        shutil.copytree(REPO_ROOT / APP_DIR, app, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
        cache = Path(work) / "build"
        specs = {
            d.name: CodeSpec(d, architecture, python_version) for d in sorted(app.iterdir()) if d.is_dir()
        }
        started = time.monotonic()
        first = {name: build_code(spec, cache_dir=cache) for name, spec in specs.items()}
        cold = time.monotonic() - started
        for name, artifact in first.items():
            size = artifact.path.stat().st_size
            result.measures.append(Measure(f"function package {APP_DIR}/{name} zipped", size / 1000, "kB"))
        started = time.monotonic()
        unchanged = {name: build_code(spec, cache_dir=cache) for name, spec in specs.items()}
        none_changed = time.monotonic() - started
        changed_dir = specs[CHANGED_FUNCTION].code_dir
        for source in sorted(changed_dir.glob("*.py"))[:1]:
            source.write_text(source.read_text() + "\n# changed\n")
        started = time.monotonic()
        second = {name: build_code(spec, cache_dir=cache) for name, spec in specs.items()}
        one_changed = time.monotonic() - started
    rebuilt = sorted(name for name in specs if second[name].fingerprint != first[name].fingerprint)
    same = "same zips, no pip" if unchanged == first else "DIFFERENT zips"
    result.measures += [
        Measure("build every function package, cold", cold * 1000, "ms"),
        Measure(
            f"rebuild all after changing {CHANGED_FUNCTION}",
            one_changed * 1000,
            "ms",
            none_changed * 1000,
            "rebuild all, nothing changed",
        ),
    ]
    result.notes.append(
        f"after changing {APP_DIR}/{CHANGED_FUNCTION}: rebuilt {', '.join(rebuilt) or 'nothing'} of "
        f"{len(specs)} functions (new versions only for those); unchanged tree: {same}"
    )


def _package_of(name: str, prefix: str) -> str:
    """`python/psycopg_binary/_psycopg.so` → `psycopg_binary`; `*.dist-info` folded into its package."""
    parts = Path(name).parts
    top = parts[1] if len(parts) > 2 and parts[0] == prefix else parts[-1]
    for suffix in (".dist-info", ".libs"):
        if top.endswith(suffix):
            top = top.removesuffix(suffix).split("-", 1)[0]
    return top.lower().replace("-", "_")
