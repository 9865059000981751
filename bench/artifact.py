"""Artifact: the Lambda layer zip `infra/build.py` makes for the stage defaults (architecture and Python of
`infra.config.StageConfig`), its size zipped and unzipped, and which packages weigh the most."""

from __future__ import annotations

import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import cast

from bench.harness import BenchOptions
from bench.report import BenchResult, Goal, Measure

MB = 1_000_000  # AWS quotes its Lambda size limits in MB; decimal is the stricter reading of the goal
ZIPPED_GOAL = Goal(15.0)
TOP_CONTRIBUTORS = 8


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
    return result


def _package_of(name: str, prefix: str) -> str:
    """`python/psycopg_binary/_psycopg.so` → `psycopg_binary`; `*.dist-info` folded into its package."""
    parts = Path(name).parts
    top = parts[1] if len(parts) > 2 and parts[0] == prefix else parts[-1]
    for suffix in (".dist-info", ".libs"):
        if top.endswith(suffix):
            top = top.removesuffix(suffix).split("-", 1)[0]
    return top.lower().replace("-", "_")
