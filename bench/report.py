"""What a benchmark hands back (measures with baselines and goals) and how it is printed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Goal:
    """A bound on a measure's value, or on its ratio to the baseline when `on_ratio`."""

    limit: float
    at_most: bool = True
    on_ratio: bool = False

    def met_by(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def describe(self, unit: str) -> str:
        sign = "≤" if self.at_most else "≥"
        limit = f"{self.limit:g}"
        return f"{sign} {limit}x" if self.on_ratio else f"{sign} {limit} {unit}".rstrip()


@dataclass(frozen=True)
class Measure:
    """One figure, optionally measured side by side with a baseline in the same run."""

    label: str
    value: float
    unit: str = ""
    baseline: float | None = None
    baseline_label: str = ""
    goal: Goal | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def goal_met(self) -> bool | None:
        if self.goal is None:
            return None
        checked = self.ratio if self.goal.on_ratio else self.value
        return None if checked is None else self.goal.met_by(checked)

    def line(self) -> str:
        """`health p50 1.80 ms vs floor 1.50 ms → 1.20x (goal ≤ 1.3x) ok`"""
        text = f"{self.label} {_with_unit(self.value, self.unit)}"
        if self.baseline is not None:
            text += f" vs {self.baseline_label} {_with_unit(self.baseline, self.unit)}"
            if self.ratio is not None:
                text += f" → {self.ratio:.2f}x"
        if self.goal is not None:
            verdict = {True: "ok", False: "MISSED", None: "n/a"}[self.goal_met]
            text += f" (goal {self.goal.describe(self.unit)}) {verdict}"
        return text


@dataclass
class BenchResult:
    """A benchmark's figures, free-form notes (deferred imports, contributors…) or why it could not run;
    `gaps` are parts of it that could not run (label, why) while the rest did."""

    name: str
    measures: list[Measure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unavailable: str | None = None
    gaps: list[tuple[str, str]] = field(default_factory=list)

    @property
    def missed_goals(self) -> list[Measure]:
        return [measure for measure in self.measures if measure.goal_met is False]


def summary_table(results: list[BenchResult]) -> str:
    """A markdown table of every measure of every result (and every benchmark that could not run)."""
    rows = [
        "| benchmark | measure | value | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        if result.unavailable is not None:
            rows.append(f"| {result.name} | — | not available: {result.unavailable} | | | | |")
            continue
        for m in result.measures:
            baseline = "" if m.baseline is None else f"{m.baseline_label} {_with_unit(m.baseline, m.unit)}"
            ratio = "" if m.ratio is None else f"{m.ratio:.2f}x"
            goal = "" if m.goal is None else m.goal.describe(m.unit)
            met = {True: "yes", False: "**no**", None: ""}[m.goal_met]
            value = _with_unit(m.value, m.unit)
            rows.append(f"| {result.name} | {m.label} | {value} | {baseline} | {ratio} | {goal} | {met} |")
        rows += [f"| {result.name} | {label} | not available: {why} | | | | |" for label, why in result.gaps]
    return "\n".join(rows)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _with_unit(value: float, unit: str) -> str:
    return f"{_number(value)} {unit}" if unit else _number(value)
