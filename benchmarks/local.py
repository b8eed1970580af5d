"""Whole turns on the real local model, as a newcomer's `focal demo` runs them: no provider key (the
embedded default), default settings (budgets and telemetry on), the shipped support agent, the bundled
SmolLM2-135M-Instruct behind llama-cpp-python's server, on this machine's cores.

Measured over the demo conversations of `benchmarks.turn` (greeting, order status with its lookup, a refund
above the limit, a legal question, an angry customer), each on a new conversation: turn latency p50/p95,
LLM calls and tokens per turn. Baseline of the latency rows: the sum of the turn's model call latencies as
the executor timed them (rule and scenario filtering run concurrently, so a turn can take less than its
sum: a ratio below 1). Goal: p50 <= 3 s.

    python -m benchmarks local [--quick] [--json FILE]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from focal.tools import seed_demo_data

from benchmarks._report import Goal, Metric, measured
from benchmarks._runner import Options, Unavailable, cli_parser, main_one
from benchmarks._stats import percentile
from benchmarks.turn import DEMOS
from focal.app import Focal
from focal.local import LocalModelMissing, model_path, require_server
from focal.settings import FocalSettings

SUPPORT = Path(__file__).resolve().parent.parent / "configs" / "alignment" / "support"
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OLLAMA_HOST", "FOCAL_LOCAL_BASE_URL")
INCLUDES = (
    "Focal.turn on the embedded default (no provider key), default settings, SQLite, the bundled "
    "SmolLM2-135M-Instruct on llama-cpp-python's server started by Focal, grammar-forced JSON per step"
)


async def measure(quick: bool) -> dict[str, Any]:
    """Each demo conversation once (the first two lines with `quick`), turn by turn."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = FocalSettings(database_url=f"sqlite:///{tmp}/local.db", data_dir=Path(tmp), embedded_default=True)
        focal = await Focal.create(settings, migrate=True)
        try:
            seed_demo_data(focal.engine, ["acme"])
            focal.alignment.import_folder(SUPPORT, "acme", created_by="benchmark")
            began = time.perf_counter()
            await focal.start_local_model()
            ready = time.perf_counter() - began
            turns: list[dict[str, Any]] = []
            for name, lines in DEMOS.items():
                for line in lines[:1] if quick else lines:
                    began = time.perf_counter()
                    result = await focal.turn("acme", "support", f"bench-{name}", line.message, user_id="u-42")
                    turns.append(
                        {
                            "seconds": time.perf_counter() - began,
                            "model_seconds": sum(m.latency_ms for m in result.models) / 1000,
                            "calls": sum(m.attempts for m in result.models),
                            "tokens": result.input_tokens + result.output_tokens,
                            "output_tokens": result.output_tokens,
                            "verdict": result.enforcement.status,
                        }
                    )
        finally:
            await focal.aclose()
    return {"ready_seconds": ready, "turns": turns}


def _report(figures: dict[str, Any]) -> None:
    turns = figures["turns"]
    print(f"local  ({len(turns)} turns; server ready in {figures['ready_seconds']:.1f} s; {os.cpu_count()} CPUs)")
    for number, t in enumerate(turns, start=1):
        print(
            f"   turn {number:2d}  {t['seconds']:6.2f} s  (model calls {t['model_seconds']:6.2f} s)  "
            f"{t['calls']} calls  {t['tokens']} tokens ({t['output_tokens']} out)  {t['verdict']}"
        )


def _seconds_at(samples: list[float], q: float) -> float:
    """`percentile` (nanoseconds in, microseconds out) for samples in seconds."""
    return percentile([round(x * 1e9) for x in samples], q) / 1e6


def metrics(figures: dict[str, Any]) -> list[Metric]:
    turns = figures["turns"]
    seconds = [t["seconds"] for t in turns]
    model = [t["model_seconds"] for t in turns]
    rows = [
        measured(
            "local",
            f"turn {label}",
            unit="s",
            focal=_seconds_at(seconds, q),
            baseline=_seconds_at(model, q),
            baseline_name="the sum of the turn's model call latencies (rule and scenario filtering overlap)",
            goal=Goal(op="<=", threshold=3.0) if label == "p50" else None,
            includes=INCLUDES,
        )
        for label, q in (("p50", 50), ("p95", 95))
    ]
    rows.append(
        measured(
            "local",
            "LLM calls per turn",
            unit="calls",
            focal=statistics.mean(t["calls"] for t in turns),
            includes=INCLUDES + "; attempts counted (a retried call counts twice)",
        )
    )
    rows.append(
        measured(
            "local",
            "tokens per turn",
            unit="tokens",
            focal=statistics.mean(t["tokens"] for t in turns),
            includes=INCLUDES + "; input and output",
        )
    )
    return rows


def run(options: Options) -> list[Metric]:
    """Measure on the local model; `Unavailable` when the `local` extra is not installed."""
    try:
        require_server()
        model_path()
    except LocalModelMissing as exc:
        raise Unavailable(str(exc)) from None
    saved = {k: os.environ.pop(k) for k in KEYS if k in os.environ}  # the embedded default: no provider key
    try:
        figures = asyncio.run(measure(options.quick))
    finally:
        os.environ.update(saved)
    _report(figures)
    return metrics(figures)


def main(argv: list[str] | None = None) -> None:
    args = cli_parser("local", __doc__).parse_args(argv)
    main_one("local", run, args)


if __name__ == "__main__":
    main()
