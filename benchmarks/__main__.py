"""Run benchmarks: `python -m benchmarks` (all) or `python -m benchmarks resolver [options]`."""

from __future__ import annotations

import os
import sys
from importlib import import_module

os.environ.setdefault("AGNO_TELEMETRY", "false")  # a benchmark never phones home (Focal itself leaves env alone)

BENCHMARKS = ["resolver", "executor", "telemetry_writes", "alignment", "turn"]


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        print("available:", ", ".join(BENCHMARKS))
        return
    if args and args[0] in BENCHMARKS:
        import_module(f"benchmarks.{args[0]}").main(args[1:])
        return
    if args:
        sys.exit(f"unknown benchmark {args[0]!r}; available: {', '.join(BENCHMARKS)}")
    for name in BENCHMARKS:
        import_module(f"benchmarks.{name}").main([])
        print()


if __name__ == "__main__":
    main()
