"""What a benchmark reports: `Metric` rows with machine-checkable `Goal`s, the table and the JSON document.

A benchmark module's `run(options)` returns `Metric`s built with `measured(...)` (or `skipped(...)` for a
figure it could not take, with the reason); `format_table` renders them as one table with footnotes saying
what each figure includes and what its baseline is, and `document` turns them into the JSON written by
`--json FILE`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Goal", "Metric", "document", "format_table", "measured", "skipped"]

SCHEMA = 1
"""Version of the JSON document; raise it when a field changes meaning."""


@dataclass(frozen=True, kw_only=True)
class Goal:
    """A goal a figure must meet: `value` (Focal's figure) or `ratio` (Focal / baseline) `op` `threshold`."""

    op: Literal["<=", ">="]
    """`<=`: at most `threshold`; `>=`: at least."""
    threshold: float
    on: Literal["value", "ratio"] = "value"
    """Which figure is checked: Focal's value or its ratio to the baseline."""

    def check(self, value: float | None, ratio: float | None) -> bool | None:
        """Whether the goal is met; None when the checked figure is missing (not measured, or NaN)."""
        figure = value if self.on == "value" else ratio
        if figure is None or math.isnan(figure):
            return None
        return figure <= self.threshold if self.op == "<=" else figure >= self.threshold

    def text(self, unit: str) -> str:
        """Readable form, e.g. `<= 20 µs` or `ratio <= 1.15x`."""
        number = f"{self.threshold:,g}"
        return f"ratio {self.op} {number}x" if self.on == "ratio" else f"{self.op} {number} {unit}".rstrip()

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "threshold": self.threshold, "on": self.on}


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One figure of one benchmark, beside its baseline measured in the same run. Build with `measured`/`skipped`."""

    benchmark: str
    name: str
    unit: str
    """Unit of `focal` and `baseline` (`ratio` has none)."""
    focal: float | None
    """Focal's figure; None when skipped."""
    baseline: float | None
    baseline_name: str | None
    """What the baseline is (e.g. "a plain dict lookup of the same keys")."""
    ratio: float | None
    """focal / baseline unless the benchmark computes a better-founded one (e.g. a median of per-round ratios)."""
    goal: Goal | None
    goal_text: str | None
    met: bool | None
    """`goal.check(focal, ratio)`; None without a goal or without the figure."""
    includes: str
    """What the figure includes (settings, database, what is timed and what is not)."""
    skipped: str | None = None
    """Why the figure was not measured (e.g. "skipped: PostgreSQL unreachable: ..."); None when measured."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None, the goal a dict."""
        return {
            "benchmark": self.benchmark,
            "metric": self.name,
            "unit": self.unit,
            "focal": _finite(self.focal),
            "baseline": _finite(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": _finite(self.ratio),
            "goal": self.goal.as_dict() if self.goal else None,
            "goal_text": self.goal_text,
            "met": self.met,
            "includes": self.includes,
            "skipped": self.skipped,
        }


def measured(
    benchmark: str,
    name: str,
    *,
    unit: str,
    focal: float,
    includes: str,
    baseline: float | None = None,
    baseline_name: str | None = None,
    ratio: float | None = None,
    goal: Goal | None = None,
) -> Metric:
    """A measured figure. `ratio` defaults to focal / baseline; `met` is evaluated from `goal`."""
    if ratio is None and baseline is not None and baseline != 0 and not math.isnan(baseline):
        ratio = focal / baseline
    return Metric(
        benchmark=benchmark,
        name=name,
        unit=unit,
        focal=focal,
        baseline=baseline,
        baseline_name=baseline_name,
        ratio=ratio,
        goal=goal,
        goal_text=goal.text(unit) if goal else None,
        met=goal.check(focal, ratio) if goal else None,
        includes=includes,
    )


def skipped(
    benchmark: str, name: str, reason: str, *, unit: str = "", goal: Goal | None = None, includes: str = ""
) -> Metric:
    """A figure not measured, and why (a server unreachable, an optional package missing, a failure)."""
    return Metric(
        benchmark=benchmark,
        name=name,
        unit=unit,
        focal=None,
        baseline=None,
        baseline_name=None,
        ratio=None,
        goal=goal,
        goal_text=goal.text(unit) if goal else None,
        met=None,
        includes=includes,
        skipped=reason,
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def number(value: float | None) -> str:
    """A figure for the table: thousands separated, about three significant digits below 100."""
    if value is None or math.isnan(value):
        return "-"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1 or size == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _met(metric: Metric) -> str:
    if metric.skipped:
        return "skipped"
    return {True: "yes", False: "NO", None: "-"}[metric.met]


NOTE_WIDTH = 120
HEADERS = ("metric", "Focal", "baseline", "ratio", "goal", "met")


def rows(metrics: Sequence[Metric]) -> list[tuple[str, str, str, str, str, str]]:
    """The table's cells, one tuple per metric, in `HEADERS` order (the metric cell ends with its note number)."""
    notes = _notes(metrics)
    cells = []
    for metric in metrics:
        unit = f" ({metric.unit})" if metric.unit else ""
        label = f"{metric.benchmark}: {metric.name}{unit} [{notes[_note_key(metric)]}]"
        focal = "skipped" if metric.skipped else number(metric.focal)
        ratio = "-" if metric.ratio is None or math.isnan(metric.ratio) else f"{metric.ratio:.2f}x"
        cells.append((label, focal, number(metric.baseline), ratio, metric.goal_text or "-", _met(metric)))
    return cells


_NoteKey = tuple[str, str, str | None, str | None]


def _note_key(metric: Metric) -> _NoteKey:
    return (metric.benchmark, metric.includes, metric.baseline_name, metric.skipped)


def _notes(metrics: Sequence[Metric]) -> dict[_NoteKey, int]:
    numbers: dict[_NoteKey, int] = {}
    for metric in metrics:
        numbers.setdefault(_note_key(metric), len(numbers) + 1)
    return numbers


def format_table(metrics: Sequence[Metric], title: str | None = None) -> str:
    """One plain-text table (metric, Focal, baseline, ratio, goal, met), then the numbered notes: what each
    figure includes, its baseline, and why a figure was skipped."""
    cells = rows(metrics)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(HEADERS)]
    lines = [title] if title else []
    lines.append(" | ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip())
    lines.append("-+-".join("-" * w for w in widths))
    for row in cells:
        padded = [
            v.ljust(w) if i in (0, 4, 5) else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(" | ".join(padded).rstrip())
    lines.append("")
    lines += _format_notes(metrics)
    return "\n".join(lines)


def _format_notes(metrics: Sequence[Metric]) -> list[str]:
    """The numbered notes; what all of a benchmark's notes share ("; "-separated parts) is said once above them."""
    by_benchmark: dict[str, list[tuple[int, list[str]]]] = {}
    skips = {n for (_, _, _, reason), n in _notes(metrics).items() if reason}
    for (benchmark, includes, baseline_name, reason), n in _notes(metrics).items():
        parts = includes.split("; ") if includes else []
        if baseline_name:
            parts.append(f"baseline: {baseline_name}")
        if reason:
            parts.append(reason)
        by_benchmark.setdefault(benchmark, []).append((n, parts))
    lines = []
    for benchmark, notes in by_benchmark.items():
        described = [parts for n, parts in notes if n not in skips]
        shared = [p for p in described[0] if all(p in parts for parts in described[1:])] if len(described) > 1 else []
        if shared:
            lines.append(_fill(f"{benchmark} (every measured row): " + "; ".join(shared)))
        for n, parts in notes:
            rest = parts if n in skips else [p for p in parts if p not in shared]
            lines.append(_fill(f"[{n}] " + ("; ".join(rest) or "as above")))
    return lines


def _fill(text: str) -> str:
    return textwrap.fill(text, width=NOTE_WIDTH, subsequent_indent="    ")


def document(metrics: Sequence[Metric], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document of a run: `schema`, the run's `metadata`, and `metrics` (one dict per row)."""
    return {"schema": SCHEMA, **metadata, "metrics": [m.as_dict() for m in metrics]}
