"""Executor overhead per call, side by side in one run.

1. Focal's `ResilientExecutor` (resolution, breakers, retry bookkeeping, per-call Agent, typed-error
   observation, pricing, and telemetry on: every call recorded through a `TelemetryStore` into SQLite)
   vs a bare `Agent.arun` with the same fake model. Goal: ratio <= 1.15. The headline is the time on
   the call's path; the store's batched inserts run in the background (they overlap network waits in
   production, and the fake model never waits), so they are flushed after each round, timed apart,
   and also shown added to every call.
   The Agno run Focal makes (a fresh per-call Agent, see `focal/execution/_call_agents.py`) is also
   timed alone: the gap to it is the cost of Focal's own layers.
2. Against LiteLLM's Router (`acompletion(..., mock_response=...)`, needs `pip install litellm` in
   this environment only): Focal's overhead / LiteLLM's. Goal <= 0.5.

"Overhead" is the time per call minus the fake model's own time (zero here: the fake answers at once),
so the figures are the per-call cost of each layer.

    python -m benchmarks executor [--calls N] [--quick] [--json FILE]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._report import Goal, Metric, measured, skipped
from benchmarks._runner import Options, cli_parser, main_one
from benchmarks._stats import summary
from focal.execution import AgnoExecutor, ExecutionContext, ResilientExecutor
from focal.execution._call_agents import per_call_agent
from focal.execution.testing import FakeModel, FakeModels
from focal.logging import configure_logging
from focal.routing import ModelResolver, OverrideRepository, load_routing_config
from focal.storage import make_async_engine, make_sync_engine, upgrade

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def _line(label: str, s: dict[str, float]) -> None:
    print(f"  {label:24s}p50 {s['p50_us']:8.1f} µs  p99 {s['p99_us']:8.1f} µs  mean {s['mean_us']:8.1f} µs")


async def _time_calls(call, n: int, warmup: int) -> list[int]:  # type: ignore[no-untyped-def]
    for _ in range(warmup):
        await call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        await call()
        samples.append(clock() - t0)
    return samples


def _telemetry_recorder(async_engine: Any, spill_dir: str) -> tuple[Any, Any]:
    """(recorder, store) — the real TelemetryStore when available."""
    try:
        from focal.telemetry import TelemetryStore
    except ImportError:  # pragma: no cover - before the telemetry store existed
        records: list[Any] = []
        return records.append, None
    store = TelemetryStore(async_engine, spill_dir=Path(spill_dir))
    return store.record_call, store


async def measure(calls: int = 3000) -> dict[str, Any]:
    """Measure and print; returns the figures."""
    configure_logging("console", "warning")
    tmp = tempfile.TemporaryDirectory()
    url = f"sqlite:///{tmp.name}/bench.db"
    registry, catalogs = load_routing_config(CONFIG_DIR)
    engine = make_sync_engine(url)
    upgrade(engine)
    async_engine = make_async_engine(url)
    resolver = ModelResolver(
        registry, catalogs, OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    )
    fakes = FakeModels(default="hello")
    recorder, store = _telemetry_recorder(async_engine, tmp.name)
    executor = ResilientExecutor(AgnoExecutor(registry, model_factory=fakes.factory), resolver, recorder=recorder)
    ctx = ExecutionContext(tenant_id="acme", agent_id="support", session_id="acme:s1", step_name="generation")

    from agno.agent import Agent

    bare_agent = Agent(model=FakeModel(default="hello"), telemetry=False)

    async def focal_call() -> None:
        await executor.run("hi", ctx)

    async def bare_call() -> None:
        await bare_agent.arun("hi")

    fresh_model = FakeModel(default="hello")
    lean_model = FakeModel(default="hello")

    async def lean_call() -> None:  # the Agno run Focal makes: its per-call agent around the cached model
        await per_call_agent(lean_model).arun("hi", session_id="acme:s1")

    async def fresh_call() -> None:  # what a multi-tenant host must do without Focal: an agent per call
        await Agent(model=fresh_model, telemetry=False).arun("hi", session_id="acme:s1")

    # interleave rounds so drift affects both sides alike
    focal_ns: list[int] = []
    bare_ns: list[int] = []
    fresh_ns: list[int] = []
    lean_ns: list[int] = []
    # many short interleaved rounds: a noisy neighbour slows every variant of a round alike, and the
    # headline ratio is the median of the per-round ratios
    rounds = 30
    round_ratios: list[float] = []
    lean_ratios: list[float] = []
    write_ratios: list[float] = []
    flush_ns = 0
    for _ in range(rounds):
        b_round = await _time_calls(bare_call, calls // rounds, 10)
        fresh_ns += await _time_calls(fresh_call, calls // rounds, 10)
        l_round = await _time_calls(lean_call, calls // rounds, 10)
        lean_ns += l_round
        f_round = await _time_calls(focal_call, calls // rounds, 10)
        # The fake model never yields to the event loop, so the telemetry writer only runs here: its
        # batched inserts are timed apart (in production they overlap the calls' network waits).
        t0 = time.perf_counter_ns()
        if store is not None:
            await store.flush()
        round_flush = time.perf_counter_ns() - t0
        flush_ns += round_flush
        bare_ns += b_round
        focal_ns += f_round
        round_ratios.append(statistics.fmean(f_round) / statistics.fmean(b_round))
        lean_ratios.append(statistics.fmean(f_round) / statistics.fmean(l_round))
        per_call_write = round_flush / (len(f_round) + 10)
        write_ratios.append((statistics.fmean(f_round) + per_call_write) / statistics.fmean(b_round))
    if store is not None:
        await store.aclose()

    f, b, fr, lean = summary(focal_ns), summary(bare_ns), summary(fresh_ns), summary(lean_ns)
    result: dict[str, Any] = {
        "calls": calls,
        "rounds": rounds,
        "telemetry": "TelemetryStore -> SQLite" if store else "in-memory",
        "focal": f,
        "bare_agent": b,
        "fresh_agent": fr,
        "agno_run_focal_makes": lean,
        "ratio_vs_agno_run_focal_makes": statistics.median(lean_ratios),
        "ratio_round_median": statistics.median(round_ratios),
        "ratio_mean": f["mean_us"] / b["mean_us"],
        "ratio_p50": f["p50_us"] / b["p50_us"],
        "write_us_per_call": flush_ns / 1000 / (rounds * (calls // rounds + 10)),
        "ratio_with_writes_round_median": statistics.median(write_ratios),
    }
    print(
        f"executor overhead ({calls:,} calls each, fake model, telemetry "
        f"{'on (TelemetryStore -> SQLite)' if store else 'on (in-memory)'})"
    )
    _line("bare Agent.arun", b)
    _line("fresh Agent per call", fr)
    _line("Agno run Focal makes", lean)
    _line("Focal ResilientExecutor", f)
    print(
        f"  ratio Focal / bare: median of {rounds} interleaved rounds {result['ratio_round_median']:.2f}x, "
        f"overall mean {result['ratio_mean']:.2f}x, p50 {result['ratio_p50']:.2f}x  (goal <= 1.15x)"
    )
    print(
        f"  telemetry writer (background batches, timed apart): {result['write_us_per_call']:.1f} µs per record; "
        f"ratio with it added to each call: {result['ratio_with_writes_round_median']:.2f}x"
    )
    print(
        f"  Focal's own layers: +{f['mean_us'] - lean['mean_us']:.1f} µs per call over the Agno run it makes "
        f"(ratio {result['ratio_vs_agno_run_focal_makes']:.2f}x); that run differs from a bare one by "
        f"{lean['mean_us'] - b['mean_us']:+.1f} µs (a fresh Agent each call)"
    )
    print(
        f"  ratio Focal / fresh Agent per call: mean {f['mean_us'] / fr['mean_us']:.2f}x  "
        f"p50 {f['p50_us'] / fr['p50_us']:.2f}x"
    )

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: use the bundled price map
    try:
        import litellm
        from litellm import Router
    except ImportError:
        result["litellm"] = "not installed (pip install litellm in this environment to compare)"
        print(f"  LiteLLM: {result['litellm']}; skipped")
    else:
        litellm.suppress_debug_info = True
        litellm.telemetry = False
        router = Router(
            model_list=[{"model_name": "gpt-4o-mini", "litellm_params": {"model": "gpt-4o-mini", "api_key": "sk-fake"}}]
        )

        async def litellm_call() -> None:
            await router.acompletion(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response="hello"
            )

        lite_ns: list[int] = []
        focal2: list[int] = []
        for _ in range(rounds):
            lite_ns += await _time_calls(litellm_call, calls // rounds, 50)
            focal2 += await _time_calls(focal_call, calls // rounds, 50)
        lite, f2 = summary(lite_ns), summary(focal2)
        # Focal's own overhead = Focal - bare Agno run; LiteLLM's = its whole mock call (no model work at all)
        focal_overhead = max(f2["mean_us"] - b["mean_us"], 0.0)
        result["litellm"] = lite
        result["focal_overhead_us"] = focal_overhead
        result["overhead_ratio_vs_litellm"] = focal_overhead / lite["mean_us"]
        result["total_ratio_vs_litellm"] = f2["mean_us"] / lite["mean_us"]
        _line("LiteLLM Router (mock)", lite)
        print(
            f"  Focal overhead / LiteLLM overhead: {result['overhead_ratio_vs_litellm']:.2f}  (goal <= 0.5); "
            f"Focal total (incl. the Agno agent run) / LiteLLM: {result['total_ratio_vs_litellm']:.2f}"
        )
    await async_engine.dispose()
    engine.dispose()
    tmp.cleanup()
    return result


def metrics(figures: dict[str, Any]) -> list[Metric]:
    """The table's rows from `measure`'s figures (per-call means in µs; ratios as the report prints them)."""
    f, b, lean, fresh = figures["focal"], figures["bare_agent"], figures["agno_run_focal_makes"], figures["fresh_agent"]
    rounds = figures["rounds"]
    call = (
        f"focal executor.run per call: ResilientExecutor + AgnoExecutor, default policies, telemetry on "
        f"({figures['telemetry']}), zero-latency fake model, {figures['calls']:,} calls in {rounds} interleaved "
        f"rounds; value: mean µs"
    )
    median = "ratio: median of the rounds' mean ratios"
    row = partial(measured, "executor", unit="µs", focal=f["mean_us"], includes=call)
    rows = [
        row(
            name="time per call",
            baseline=b["mean_us"],
            baseline_name=f"a bare shared Agent.arun with the same fake model, same run; {median}",
            ratio=figures["ratio_round_median"],
            goal=Goal(op="<=", threshold=1.15, on="ratio"),
        ),
        measured(
            "executor",
            "time per call + telemetry writes",
            unit="µs",
            focal=f["mean_us"] + figures["write_us_per_call"],
            baseline=b["mean_us"],
            baseline_name=f"a bare shared Agent.arun with the same fake model, same run; {median}",
            ratio=figures["ratio_with_writes_round_median"],
            includes=f"{call}; plus the telemetry writer's background batch inserts (timed apart), per record",
        ),
        row(
            name="time per call vs the Agno run it makes",
            baseline=lean["mean_us"],
            baseline_name=f"the Agno run Focal makes alone (a per-call Agent around the cached model); {median}",
            ratio=figures["ratio_vs_agno_run_focal_makes"],
        ),
        row(
            name="time per call vs a fresh Agent",
            baseline=fresh["mean_us"],
            baseline_name="a fresh Agent per call (a multi-tenant host without Focal); ratio: of the means",
            ratio=f["mean_us"] / fresh["mean_us"],
        ),
    ]
    lite_goal = Goal(op="<=", threshold=0.5, on="ratio")
    lite_name = "overhead vs LiteLLM Router"
    if isinstance(figures["litellm"], str):
        rows.append(skipped("executor", lite_name, f"skipped: LiteLLM {figures['litellm']}", unit="µs", goal=lite_goal))
    else:
        rows.append(
            measured(
                "executor",
                lite_name,
                unit="µs",
                focal=figures["focal_overhead_us"],
                baseline=figures["litellm"]["mean_us"],
                baseline_name="LiteLLM Router.acompletion(mock_response=...), whole call, same run",
                goal=lite_goal,
                includes=(
                    "Focal's overhead per call: its mean time per call (measured again, interleaved with LiteLLM's) "
                    "minus the bare Agent.arun's mean; telemetry on as above"
                ),
            )
        )
    return rows


def run(options: Options, *, calls: int | None = None) -> list[Metric]:
    """Measure (300 calls with `options.quick`) and return the metrics."""
    return metrics(asyncio.run(measure(calls or (300 if options.quick else 3000))))


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("executor", __doc__)
    parser.add_argument("--calls", type=int, default=None, help="default 3,000 (300 with --quick)")
    args = parser.parse_args(argv)
    main_one("executor", lambda options: run(options, calls=args.calls), args)


if __name__ == "__main__":
    main()
