"""`python -m bench [names...] [--quick]`: run the benchmarks, print each figure beside its baseline, then a
summary table. Exit 0 when every goal is met, 1 when a goal is missed, 2 when a benchmark crashed."""

from __future__ import annotations

import argparse
import sys

from bench.harness import BENCHMARKS, BenchOptions, run_benchmark
from bench.report import summary_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts and durations (smoke run)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    options = BenchOptions(quick=args.quick)
    results, any_crashed = [], False
    for name in args.names or list(BENCHMARKS):
        result, crashed = run_benchmark(name, options)
        results.append(result)
        any_crashed |= crashed
    print("\n== summary" + (" (--quick: indicative only)" if options.quick else ""))
    print(summary_table(results))
    if any_crashed:
        return 2
    return 1 if any(result.missed_goals for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
