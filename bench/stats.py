"""Shared statistics and timing helpers for the benchmarks (percentiles, summaries, a stopwatch)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], pct: int) -> float:
    """The `pct`-th percentile (1..99), interpolated linearly between closest ranks (numpy's default)."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 1 <= pct <= 99:
        raise ValueError(f"percentile must be within 1..99, got {pct}")
    if len(samples) == 1:
        return float(samples[0])
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


@dataclass(frozen=True)
class Summary:
    """Distribution of one series of samples (same unit as the samples)."""

    count: int
    p50: float
    p99: float
    mean: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("summary of no samples")
        return cls(
            count=len(samples),
            p50=percentile(samples, 50),
            p99=percentile(samples, 99),
            mean=statistics.fmean(samples),
            minimum=float(min(samples)),
            maximum=float(max(samples)),
        )


def median(samples: Sequence[float]) -> float:
    if not samples:
        raise ValueError("median of no samples")
    return float(statistics.median(samples))


def elapsed_ms(since_ns: int) -> float:
    """Milliseconds from a `time.perf_counter_ns()` reading to now."""
    return (time.perf_counter_ns() - since_ns) / 1e6


def time_calls_ms(call: Callable[[], object], count: int) -> list[float]:
    """Run `call` `count` times and return each duration in milliseconds."""
    durations: list[float] = []
    for _ in range(count):
        start = time.perf_counter_ns()
        call()
        durations.append(elapsed_ms(start))
    return durations
