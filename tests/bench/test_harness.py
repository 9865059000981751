"""The benchmark runner: missing parts are reported as such, crashes are not hidden, names are checked."""

from __future__ import annotations

import sys
import types

import pytest

from bench import harness
from bench.__main__ import main
from bench.harness import BenchOptions, Unavailable, require, run_benchmark
from bench.report import BenchResult, Goal, Measure


def test_require_reports_a_missing_module_as_unavailable() -> None:
    with pytest.raises(Unavailable, match=r"runtime\.not_there is not in the tree"):
        require("runtime.not_there")


def install(monkeypatch: pytest.MonkeyPatch, name: str, run: object) -> None:
    module = types.ModuleType(f"bench.fake_{name}")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(harness.BENCHMARKS, name, module.__name__)


def test_unavailable_is_a_result_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(options: BenchOptions) -> BenchResult:
        raise Unavailable("infra/build.py is not in the tree")

    install(monkeypatch, "missing", run)
    result, crashed = run_benchmark("missing", BenchOptions(quick=True))
    assert not crashed
    assert result.unavailable == "infra/build.py is not in the tree"
    assert result.measures == []


def test_a_crash_is_reported_and_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(options: BenchOptions) -> BenchResult:
        raise RuntimeError("boom")

    install(monkeypatch, "broken", run)
    result, crashed = run_benchmark("broken", BenchOptions(quick=True))
    assert crashed
    assert result.unavailable == "failed: RuntimeError: boom"


def test_exit_status_says_whether_goals_were_met(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(monkeypatch, "met", lambda options: BenchResult("met", [Measure("x", 1.0, goal=Goal(2.0))]))
    install(monkeypatch, "missed", lambda options: BenchResult("missed", [Measure("x", 3.0, goal=Goal(2.0))]))
    assert main(["met", "--quick"]) == 0
    assert main(["met", "missed"]) == 1
    assert "| missed | x | 3 |  |  | ≤ 2 | **no** |" in capsys.readouterr().out


def test_unknown_benchmark_names_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["nope"])
    assert exit_info.value.code == 2
    assert "unknown benchmark nope" in capsys.readouterr().err
