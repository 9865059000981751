"""The benchmark helpers: percentiles agree with the textbook definition, and goals judge the right value."""

from __future__ import annotations

import pytest

from bench.report import BenchResult, Goal, Measure, summary_table
from bench.stats import Summary, percentile


def test_percentile_interpolates_between_closest_ranks() -> None:
    samples = [float(value) for value in range(1, 101)]
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)  # unsorted input


def test_percentile_of_one_sample_is_that_sample() -> None:
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("pct", [0, 100, -1])
def test_percentile_outside_1_to_99_is_refused(pct: int) -> None:
    with pytest.raises(ValueError, match=r"within 1\.\.99"):
        percentile([1.0, 2.0], pct)


def test_summary_refuses_no_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        Summary.of([])


def test_ratio_goal_judges_the_ratio_not_the_value() -> None:
    within = Measure(
        "health p50", 1.8, "ms", baseline=1.5, baseline_label="floor", goal=Goal(1.3, on_ratio=True)
    )
    over = Measure(
        "health p50", 2.0, "ms", baseline=1.5, baseline_label="floor", goal=Goal(1.3, on_ratio=True)
    )
    assert within.ratio == pytest.approx(1.2)
    assert within.goal_met is True
    assert over.goal_met is False
    assert within.line() == "health p50 1.80 ms vs floor 1.50 ms → 1.20x (goal ≤ 1.3x) ok"
    assert "MISSED" in over.line()


def test_value_goal_and_at_least() -> None:
    assert Measure("errors", 0, goal=Goal(0)).goal_met is True
    assert Measure("errors", 3, goal=Goal(0)).goal_met is False
    assert Measure("speed-up", 2.0, goal=Goal(3.0, at_most=False)).goal_met is False
    assert Measure("no goal", 1.0).goal_met is None


def test_summary_table_lists_measures_missed_goals_and_unavailable_benchmarks() -> None:
    results = [
        BenchResult("artifact", [Measure("zipped", 16.0, "MB", goal=Goal(15.0))]),
        BenchResult("plan", unavailable="infra/plan.py is not in the tree"),
    ]
    table = summary_table(results).splitlines()
    assert table[2] == "| artifact | zipped | 16 MB |  |  | ≤ 15 MB | **no** |"
    assert "not available: infra/plan.py is not in the tree" in table[3]
    assert results[0].missed_goals == results[0].measures
