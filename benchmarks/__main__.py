"""Run Focal's benchmarks and print one table: metric, Focal, baseline, ratio, goal, met.

    python -m benchmarks [--quick] [--json FILE] [--detail] [--postgres-url URL]   all of them
    python -m benchmarks NAME [NAME's options] [--quick] [--json FILE]            one, with its detailed report

`--json FILE` writes the same rows plus the run's metadata (date, git commit, Python, platform, CPU count,
package versions, each benchmark's status, time and detailed report) so runs can be compared over time.
`--quick` runs smaller sizes (a smoke run; its figures are not comparable with a full run's).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from benchmarks._report import Metric
from benchmarks._runner import DEFAULT_PG, Benchmark, Options, run_benchmarks

os.environ.setdefault("AGNO_TELEMETRY", "false")  # a benchmark never phones home (Focal itself leaves env alone)

BENCHMARKS = ["resolver", "executor", "telemetry_writes", "alignment", "turn", "local"]
"""Every benchmark module, in the order `python -m benchmarks` runs them. A module has `run(options) ->
list[Metric]` (raising `benchmarks._runner.Unavailable` when it cannot run here) and `main(argv)`."""


def _lazy(name: str) -> Benchmark:
    """The module's `run`, imported when it runs (an import error is that benchmark's failure, not the command's)."""

    def run(options: Options) -> Sequence[Metric]:
        return import_module(f"benchmarks.{name}").run(options)  # type: ignore[no-any-return]

    return run


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in BENCHMARKS:
        import_module(f"benchmarks.{args[0]}").main(args[1:])
        return
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        epilog=f"benchmarks: {', '.join(BENCHMARKS)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run; not comparable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows and run metadata as JSON")
    parser.add_argument("--detail", action="store_true", help="also print each benchmark's detailed report")
    parser.add_argument("--postgres-url", default=DEFAULT_PG, help="admin URL; empty to skip PostgreSQL")
    if args and not args[0].startswith("-"):
        parser.error(f"unknown benchmark {args[0]!r}; available: {', '.join(BENCHMARKS)}")
    parsed = parser.parse_args(args)
    options = Options(quick=parsed.quick, postgres_url=parsed.postgres_url or None)
    benchmarks = {name: _lazy(name) for name in BENCHMARKS}
    sys.exit(run_benchmarks(benchmarks, options, detail=parsed.detail, json_path=parsed.json))


if __name__ == "__main__":
    main()
