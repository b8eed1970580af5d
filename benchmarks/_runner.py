"""Runs benchmarks, prints one table of their metrics, writes the JSON document.

A benchmark is a callable `(Options) -> list[Metric]` (each module's `run`). It prints its detailed report
to stdout while it measures; the runner shows that report live (`detail=True`, one benchmark run on its own)
or keeps it for the JSON only (`python -m benchmarks`). A benchmark that cannot run here (a server it needs
is unreachable, an optional package is missing) raises `Unavailable(reason)` or returns `skipped(...)` rows;
one that fails is reported as a `failed: ...` row and the command exits 1 after the others have run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

from benchmarks._report import Metric, document, format_table, skipped

__all__ = ["DEFAULT_PG", "Benchmark", "Options", "Unavailable", "cli_parser", "main_one", "metadata", "run_benchmarks"]

DEFAULT_PG = os.environ.get("FOCAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class Options:
    """What every benchmark accepts. Defaults measure as users run Focal, at the documented sizes."""

    quick: bool = False
    """Smaller sizes, for a smoke run: the figures are not comparable with a full run's."""
    postgres_url: str | None = DEFAULT_PG
    """Admin URL of a PostgreSQL server for the benchmarks that also measure on PostgreSQL; None skips it."""


class Unavailable(Exception):
    """Raised by a benchmark that cannot run here; the message says why (reported as a skipped row)."""


Benchmark = Callable[[Options], Sequence[Metric]]


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def run_benchmarks(
    benchmarks: Mapping[str, Benchmark],
    options: Options,
    *,
    detail: bool = False,
    json_path: Path | None = None,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> int:
    """Run each benchmark in turn, print one table of all their metrics to `out`, write the JSON document.

    Args:
        benchmarks: name -> benchmark, run in this order.
        options: passed to every benchmark.
        detail: also show each benchmark's detailed report as it runs (it is kept in the JSON either way).
        json_path: where to write the JSON document (rows plus the run's metadata); None writes none.
        out: where the reports and the table go (default stdout).
        progress: where a line per benchmark started and finished goes (default stderr).

    Returns:
        The exit status: 1 when a benchmark failed, else 0 (goals not met do not fail the command).
    """
    out = out or sys.stdout
    progress = progress or sys.stderr
    metrics: list[Metric] = []
    runs: dict[str, dict[str, Any]] = {}
    load_at_start = _load()
    for i, (name, benchmark) in enumerate(benchmarks.items(), 1):
        print(f"[{i}/{len(benchmarks)}] {name} ...", file=progress, flush=True)
        report = io.StringIO()
        status = "ok"
        t0 = time.perf_counter()
        try:
            with redirect_stdout(_Tee(report, out) if detail else report):
                found = list(benchmark(options))
        except Unavailable as exc:
            status, found = "skipped", [skipped(name, "(all)", f"skipped: {exc}")]
        except Exception as exc:  # one benchmark's failure must not lose the others' figures
            traceback.print_exc(file=progress)
            status, found = "failed", [skipped(name, "(all)", f"failed: {type(exc).__name__}: {exc}")]
        seconds = time.perf_counter() - t0
        if detail:
            print(file=out)
        print(f"[{i}/{len(benchmarks)}] {name} {status} in {seconds:.1f} s", file=progress, flush=True)
        metrics += found
        runs[name] = {"status": status, "seconds": round(seconds, 3), "report": report.getvalue()}
    load = f"load average {load_at_start:.2f} at start, {_load():.2f} at end: p99s move with other load"
    title = f"Focal benchmarks ({os.cpu_count()} CPUs, {load})"
    if options.quick:
        title += "\n--quick: smaller sizes, not comparable with a full run"
    print(format_table(metrics, title=title), file=out)
    if json_path is not None:
        doc = document(metrics, {**metadata(options, runs), "load_average_at_start": load_at_start})
        json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {json_path}", file=out)
    return 1 if any(r["status"] == "failed" for r in runs.values()) else 0


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def metadata(options: Options, runs: Mapping[str, Any]) -> dict[str, Any]:
    """The run's context, so runs can be compared: when, which commit, which Python and machine, which options
    (the PostgreSQL URL is not written: it may hold a password), and each benchmark's status, time and report."""
    status = _git("status", "--porcelain")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,  # 1, 5, 15 min, at the end
        "packages": {p: _version(p) for p in ("focal", "agno", "sqlalchemy", "pydantic", "litellm")},
        "options": {"quick": options.quick, "postgres": options.postgres_url is not None},
        "benchmarks": dict(runs),
    }


def cli_parser(name: str, doc: str | None, *, postgres: bool = False) -> argparse.ArgumentParser:
    """A benchmark's own parser with the common flags (`--quick`, `--json FILE`, and `--postgres-url`)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks {name}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run; not comparable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the metrics and run metadata as JSON")
    if postgres:
        parser.add_argument("--postgres-url", default=DEFAULT_PG, help="admin URL; empty to skip PostgreSQL")
    return parser


def main_one(name: str, benchmark: Benchmark, args: argparse.Namespace) -> None:
    """Run one benchmark from its parsed command line: its detailed report, then its table; exits."""
    options = Options(quick=args.quick, postgres_url=getattr(args, "postgres_url", DEFAULT_PG) or None)
    sys.exit(run_benchmarks({name: benchmark}, options, detail=True, json_path=args.json))
