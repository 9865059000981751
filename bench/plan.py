"""Plan: the offline `python -m infra plan --stack X` wall time per stage (fresh process, as a developer runs
it), and policy evaluation over 1,000 recorded resources (F's bench/bench_policy.py)."""

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
    if importlib.util.find_spec("infra.plan") is None:
        raise Unavailable("infra/plan.py is not in the tree")
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
                tail = (process.stdout + process.stderr).strip().splitlines()[-3:]
                result.notes.append(f"{stage}: plan exited {process.returncode}: {' / '.join(tail)}")
                if process.returncode != 1:
                    break
            durations.append(seconds)
        if durations:
            result.measures.append(Measure(f"plan {stage}", median(durations), "s", goal=PLAN_GOAL))
    _policy_evaluation(options, result)
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


def _policy_evaluation(options: BenchOptions, result: BenchResult) -> None:
    if importlib.util.find_spec("bench.bench_policy") is None:
        result.notes.append("policy evaluation: not available: bench/bench_policy.py is not in the tree")
        return
    # Filled in once F's module lands (its entry point decides how it is called).
    result.notes.append("policy evaluation: not available: bench/bench_policy.py has no known entry point")
