"""Plan: the offline `python -m infra plan --stack X` wall time per stage, in a fresh process as a developer
runs it (the policy pack over 1,000 resources is `bench/bench_policy.py`, run as the `policy` benchmark)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import BenchOptions, Unavailable
from bench.report import BenchResult, Goal, Measure
from bench.stats import median

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES = ("production", "staging", "pr-42")
PLAN_GOAL = Goal(3.0)
PLAN_TIMEOUT_SECONDS = 120.0


def run(options: BenchOptions) -> BenchResult:
    for module in ("infra.plan", "infra.__main__"):
        if importlib.util.find_spec(module) is None:
            raise Unavailable(f"{module} is not in the tree (`python -m infra plan` needs it)")
    repetitions = options.scaled(3, 1)
    result = BenchResult("plan")
    result.notes.append(
        f"`{sys.executable} -m infra plan --stack STAGE`, fresh process, median of {repetitions}"
    )
    for stage in STAGES:
        durations: list[float] = []
        for _ in range(repetitions):
            seconds, process = _timed_plan(stage)
            if process.returncode != 0:
                # Exit 1 can be the policy pack refusing the plan: still a plan, still timed, said so.
                tail = " / ".join((process.stdout + process.stderr).strip().splitlines()[-3:])
                if process.returncode != 1:  # not a verdict: the plan could not be made, nothing to time
                    result.gaps.append((f"plan {stage}", f"exit {process.returncode}: {tail}"))
                    break
                result.notes.append(f"{stage}: the policy pack refused the plan (exit 1): {tail}")
            durations.append(seconds)
        if durations:
            result.measures.append(Measure(f"plan {stage}", median(durations), "s", goal=PLAN_GOAL))
    return result


def _timed_plan(stage: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "infra", "plan", "--stack", stage],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=PLAN_TIMEOUT_SECONDS,
        check=False,
    )
    return time.perf_counter() - started, process
