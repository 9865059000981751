"""The cold-start benchmark's first-invocation probe reads its figures in spite of the access lines the
invoked handler writes to stdout (they once came first and broke the parse)."""

from __future__ import annotations

from bench import coldstart
from bench.harness import BenchOptions
from bench.report import BenchResult


def test_the_first_invocation_probe_reports_its_figures() -> None:
    result = BenchResult("coldstart")
    coldstart._first_invocation(BenchOptions(quick=True), result, repetitions=1)
    first = next(measure for measure in result.measures if measure.label == "first invocation")
    assert first.baseline is not None
    assert first.value > first.baseline > 0  # the cold invocation, then the warm one
