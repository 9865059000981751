"""The benchmark registry and runner: each benchmark is a module with `run(options) -> BenchResult`."""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from bench.report import BenchResult

# Name → module, in the order `python -m bench` runs them when no name is given (no-database ones first).
BENCHMARKS: dict[str, str] = {
    "coldstart": "bench.coldstart",
    "artifact": "bench.artifact",
    "plan": "bench.plan",
    "policy": "bench.bench_policy",  # engineer F's: the policy pack over 1,000 resources
    "health": "bench.health",
    "load": "bench.load",
}


@dataclass(frozen=True)
class BenchOptions:
    """`quick` shrinks every count and duration (a smoke run); figures are then indicative only."""

    quick: bool = False

    def scaled(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full


class Unavailable(Exception):
    """A benchmark cannot run here (a part it measures is missing); reported, never a made-up figure."""


class _Benchmark(Protocol):
    def run(self, options: BenchOptions) -> BenchResult: ...


def require(module_name: str) -> ModuleType:
    """Import a module a benchmark measures; its absence (not a broken import inside it) is `Unavailable`."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise Unavailable(f"{module_name} is not in the tree") from exc
        raise


def run_benchmark(name: str, options: BenchOptions) -> tuple[BenchResult, bool]:
    """Run one benchmark, print its lines as they come; returns the result and whether it crashed."""
    print(f"\n== {name}", flush=True)
    started = time.monotonic()
    crashed = False
    try:
        module: _Benchmark = importlib.import_module(BENCHMARKS[name])
        result = module.run(options)
    except Unavailable as exc:
        result = BenchResult(name, unavailable=str(exc))
    except Exception as exc:
        traceback.print_exc()
        result = BenchResult(name, unavailable=f"failed: {type(exc).__name__}: {exc}")
        crashed = True
    for note in result.notes:
        print(f"  {note}")
    for measure in result.measures:
        print(f"  {measure.line()}")
    for label, why in result.gaps:
        print(f"  {label}: not available: {why}")
    if result.unavailable is not None:
        print(f"  not available: {result.unavailable}")
    print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    return result, crashed
