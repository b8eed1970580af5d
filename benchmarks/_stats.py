"""Percentiles and timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples_ns: Sequence[int], q: float) -> float:
    """The q-th percentile (0-100) in microseconds, nearest-rank."""
    ordered = sorted(samples_ns)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank] / 1000


def summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50 / p99 / mean in microseconds."""
    return {
        "p50_us": percentile(samples_ns, 50),
        "p99_us": percentile(samples_ns, 99),
        "mean_us": statistics.fmean(samples_ns) / 1000 if samples_ns else float("nan"),
    }
