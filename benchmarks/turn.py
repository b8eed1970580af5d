"""Whole turns through `Focal.turn`, as hosts run them: default settings (budgets and telemetry on, turn
audit records and Agno sessions in the database), the shipped support agent, fake models answering at once
(every LLM step through the real executor on a real Agno model, no HTTP). Measured in one run:

1. orchestration overhead (SQLite): each turn against the same LLM calls made back to back as bare Agno
   `Agent.arun`s (one reused agent per step: same instructions, output schema, input text and fake answer),
   run right after the turn. Goal: turn p50 - bare p50 <= 5 ms.
2. throughput: 200 concurrent sessions over 50 tenants (4 conversations each), one turn each per round
   through `Focal.turn`, on SQLite and on PostgreSQL (a throwaway database). Goal: >= 300 turns/s on PostgreSQL.
3. LLM calls per turn on scripted demo conversations of the support agent (greeting, order status with
   its lookup tool, a refund above $50, a legal question, an angry customer). Goal: mean <= 2.0.

    python -m benchmarks turn [--turns N] [--rounds N] [--postgres-url URL] [--quick] [--json FILE]
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agno.agent import Agent
from focal.agents import STEP_AGENTS
from focal.agents.testing import StepAnswers, step_of
from focal.tools import seed_demo_data
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks._report import Goal, Metric, measured, skipped
from benchmarks._runner import DEFAULT_PG, Options, cli_parser, main_one
from benchmarks._stats import percentile
from focal.alignment import TurnResult
from focal.app import Focal
from focal.execution.testing import FakeModel, FakeModels
from focal.settings import FocalSettings

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SUPPORT = CONFIGS / "alignment" / "support"
DEMO_DATA = CONFIGS / "demo" / "acme.yaml"
USAGE = (100, 20)
LLM_STEPS = tuple(STEP_AGENTS)


@dataclass(frozen=True)
class Line:
    """One user message and what a good model makes of it: intent, scenario signal, the rules that apply
    (of those the rule filter is asked about) and the scenario decision (when one is asked for)."""

    message: str
    intent: str
    keep: frozenset[str] = frozenset()
    signal: str | None = None
    scenario: Mapping[str, Any] = field(default_factory=lambda: {"action": "continue", "reason": "nothing changes"})


def _start(scenario_id: str) -> Mapping[str, Any]:
    return {"action": "start", "scenario_id": scenario_id, "reason": "the customer asked for it"}


DEMOS: dict[str, tuple[Line, ...]] = {
    "order": (
        Line("Hi there", "greeting", frozenset({"greeting"})),
        Line("Where is my order ORD-12345?", "order_status", signal="order_status", scenario=_start("order_status")),
        Line("Great, thanks. That's all.", "thanks"),
    ),
    "refund": (
        Line(
            "Hello, I'd like my money back for an order.",
            "refund_request",
            frozenset({"greeting"}),
            signal="refund",
            scenario=_start("refund"),
        ),
        Line("I want a refund of $80 for ORD-12345", "refund_request", signal="refund"),
        Line(
            "OK, I'll wait for your colleague.",
            "acknowledge",
            scenario={"action": "transition", "step_id": "done", "reason": "handed over"},
        ),
    ),
    "legal": (
        Line("Hi", "greeting", frozenset({"greeting"})),
        Line(
            "Can I sue you over a late delivery? And send me all my GDPR data.",
            "legal_question",
            frozenset({"legal_question"}),
        ),
    ),
    "angry": (
        Line("This is ridiculous, I'm fed up with your useless service!", "complaint", frozenset({"angry_customer"})),
        Line("Where is my order ORD-12345?", "order_status", signal="order_status", scenario=_start("order_status")),
    ),
}
CURRENT: ContextVar[Line] = ContextVar("CURRENT")
"""The line a turn is answering (set in each turn's task, so concurrent turns each see their own)."""
ORDER, AMOUNT = re.compile(r"ORD-\d{5}"), re.compile(r"\$(\d+(?:\.\d+)?)")


def _extract(message: str) -> dict[str, Any]:
    line = CURRENT.get()
    variables = []
    if found := ORDER.search(message):
        variables.append({"name": "order_number", "value": found.group(), "confidence": 0.95})
    if (found := AMOUNT.search(message)) and line.intent == "refund_request":
        variables.append({"name": "refund_amount", "value": found.group(1), "confidence": 0.9})
    return {"intent": line.intent, "scenario_signal": line.signal, "variables": variables}


class ScriptedAnswers(StepAnswers):
    """`StepAnswers` following the current `Line`; with `log` set, each call's (step, input text) is appended."""

    def __init__(self) -> None:
        super().__init__(extract=_extract, keep=lambda rule_id: rule_id in CURRENT.get().keep)
        self.log: list[tuple[str, str]] | None = None

    def __call__(self, messages: Sequence[Any]) -> str:
        self.scenario = dict(CURRENT.get().scenario)
        if self.log is not None:
            self.log.append((step_of(messages), str(messages[-1].content)))
        return super().__call__(messages)


async def _turn(app: Focal, tenant: str, conversation: str, line: Line) -> TurnResult:
    CURRENT.set(line)
    return await app.turn(tenant, "support", conversation, line.message, user_id="u-42")


async def _open(url: str, data_dir: Path, tenants: Sequence[str]) -> tuple[Focal, ScriptedAnswers]:
    """A `Focal` with default settings on `url`: the support agent and the demo shop data for every tenant."""
    answers = ScriptedAnswers()
    app = await Focal.create(
        FocalSettings(database_url=url, data_dir=data_dir),
        migrate=True,
        model_factory=FakeModels(default=answers, usage=USAGE).factory,
    )
    demo = data_dir / "demo"
    demo.mkdir(parents=True, exist_ok=True)
    for tenant in tenants:  # every tenant gets acme's shop data (customer u-42, order ORD-12345)
        shutil.copy(DEMO_DATA, demo / f"{tenant}.yaml")
    seed_demo_data(app.engine, tenants, source=demo)
    for tenant in tenants:
        app.alignment.import_folder(SUPPORT, tenant, created_by="benchmark")
    return app, answers


def _ms(samples_ns: Sequence[int], q: float) -> float:
    return percentile(samples_ns, q) / 1000


def _script(count: int) -> list[tuple[str, Line]]:
    """`count` turns: the demo conversations in turn, each a new conversation id, played to its end."""
    turns: list[tuple[str, Line]] = []
    conversation = 0
    while len(turns) < count:
        for name, lines in DEMOS.items():
            turns += [(f"{name}-{conversation}", line) for line in lines]
            conversation += 1
    return turns[:count]


# --- 1. orchestration overhead ---------------------------------------------------------------------------


async def overhead(app: Focal, answers: ScriptedAnswers, turns: int, warmup: int) -> dict[str, Any]:
    """Each turn, then its LLM calls as bare `Agent.arun`s (interleaved, so drift hits both alike)."""
    bare = {
        step: Agent(
            model=FakeModel(default=answers, usage=USAGE),
            telemetry=False,
            instructions=agent.instructions,
            output_schema=agent.output_schema,
        )
        for step, agent in STEP_AGENTS.items()
    }
    clock = time.perf_counter_ns
    turn_ns: list[int] = []
    bare_ns: list[int] = []
    calls = 0
    for n, (conversation, line) in enumerate(_script(warmup + turns)):
        made: list[tuple[str, str]] = []
        answers.log = made
        t0 = clock()
        await _turn(app, "acme", f"m1-{conversation}", line)
        elapsed = clock() - t0
        answers.log = []  # the bare calls log too: the fake answers the same way on both sides
        t0 = clock()
        for step, prompt in made:
            out = await bare[step].arun(prompt)
            assert isinstance(out.content, bare[step].output_schema), out.content  # type: ignore[arg-type]
        bare_elapsed = clock() - t0
        if n >= warmup:
            turn_ns.append(elapsed)
            bare_ns.append(bare_elapsed)
            calls += len(made)
    answers.log = None
    t0 = clock()
    await app.telemetry.flush()
    flush_ms = (clock() - t0) / 1e6
    result = {
        "turns": turns,
        "calls_per_turn": calls / turns,
        "turn_p50_ms": _ms(turn_ns, 50),
        "turn_p95_ms": _ms(turn_ns, 95),
        "bare_p50_ms": _ms(bare_ns, 50),
        "bare_p95_ms": _ms(bare_ns, 95),
        "turn_mean_ms": sum(turn_ns) / len(turn_ns) / 1e6,
        "bare_mean_ms": sum(bare_ns) / len(bare_ns) / 1e6,
        "paired_p50_ms": _ms([t - b for t, b in zip(turn_ns, bare_ns, strict=True)], 50),
        "final_flush_ms": flush_ms,
    }
    result["overhead_p50_ms"] = result["turn_p50_ms"] - result["bare_p50_ms"]
    leases = "on" if getattr(app.workflow.session_locks, "leases", None) is not None else "OFF"
    print(
        f"1. orchestration overhead  (SQLite; {turns} turns after {warmup} warm-up; the demo conversations in turn, "
        f"a new conversation each, 2-3 turns; {result['calls_per_turn']:.2f} LLM calls per turn; "
        f"cross-process session leases {leases})"
    )
    print(f"   Focal.turn             p50 {result['turn_p50_ms']:7.2f} ms  p95 {result['turn_p95_ms']:7.2f} ms")
    print(f"   same calls, bare Agno  p50 {result['bare_p50_ms']:7.2f} ms  p95 {result['bare_p95_ms']:7.2f} ms")
    print(
        f"   overhead p50 {result['overhead_p50_ms']:.2f} ms per turn (median of per-turn differences "
        f"{result['paired_p50_ms']:.2f} ms; means {result['turn_mean_ms']:.2f} vs {result['bare_mean_ms']:.2f} ms); "
        f"telemetry still queued after the last turn flushed in {flush_ms:.1f} ms (not counted)"
    )
    return result


# --- 2. throughput ---------------------------------------------------------------------------------------


async def throughput(url: str, data_dir: Path, rounds: int) -> dict[str, Any]:
    """Rounds of 200 concurrent turns (50 tenants x the 4 demo conversations), after one warm-up round."""
    tenants = [f"t{i:02d}" for i in range(50)]
    app, _ = await _open(url, data_dir, tenants)
    try:
        sessions = [(tenant, name, lines) for tenant in tenants for name, lines in DEMOS.items()]
        rates: list[float] = []
        failures: Counter[str] = Counter()
        total_turns, total_s = 0, 0.0
        for round_number in range(rounds + 1):
            t0 = time.perf_counter()
            results = await asyncio.gather(
                *(_turn(app, t, f"m2-{name}", lines[round_number % len(lines)]) for t, name, lines in sessions),
                return_exceptions=True,
            )
            await app.telemetry.flush()  # sustained throughput pays for the writes it queued
            elapsed = time.perf_counter() - t0
            failures.update(type(r).__name__ for r in results if isinstance(r, BaseException))
            if round_number:
                rates.append(len(sessions) / elapsed)
                total_turns += len(sessions)
                total_s += elapsed
        return {"turns_per_s": total_turns / total_s, "rounds": rates, "failures": dict(failures)}
    finally:
        await app.aclose()


def _postgres_database(admin_url: str) -> tuple[str, str] | str:
    """(the throwaway database's URL, its name), or why PostgreSQL is skipped."""
    name = f"focal_bench_turn_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:  # any driver error: unreachable
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def _drop(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


async def throughputs(tmp: Path, rounds: int, postgres_url: str | None) -> dict[str, dict[str, Any] | str]:
    print(
        f"2. throughput  (200 concurrent sessions over 50 tenants x the 4 demo conversations; one warm-up round, "
        f"then {rounds} rounds of 200 concurrent turns, each round's telemetry flushed inside its time)"
    )
    results: dict[str, dict[str, Any] | str] = {}
    results["sqlite"] = await throughput(f"sqlite:///{tmp}/throughput.db", tmp / "sqlite", rounds)
    if not postgres_url:
        results["postgresql"] = "skipped: no PostgreSQL URL given"
    else:
        made = _postgres_database(postgres_url)
        if isinstance(made, str):
            results["postgresql"] = f"skipped: PostgreSQL unreachable: {made}"
        else:
            try:
                results["postgresql"] = await throughput(made[0], tmp / "postgresql", rounds)
            finally:
                _drop(postgres_url, made[1])
    for backend, figures in results.items():
        if isinstance(figures, str):
            print(f"   {backend:10s} {figures}")
            continue
        per_round = ", ".join(f"{r:.0f}" for r in figures["rounds"])
        failed = f"; FAILED turns: {figures['failures']}" if figures["failures"] else "; no turn failed"
        print(f"   {backend:10s} {figures['turns_per_s']:7.1f} turns/s  (rounds: {per_round}){failed}")
    return results


# --- 3. LLM calls per turn -------------------------------------------------------------------------------


async def calls_per_turn(app: Focal, answers: ScriptedAnswers) -> dict[str, Any]:
    """Each demo conversation once, on new conversations: the calls made and the calls skipped, per turn."""
    made: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    turns, calls, mismatches = 0, 0, 0
    print("3. LLM calls per turn on the demo conversations  (calls = the fake model's invocations)")
    for name, lines in DEMOS.items():
        for line in lines:
            before = dict(answers.calls)
            result = await _turn(app, "acme", f"m3-{name}", line)
            delta = Counter({step: answers.calls[step] - before[step] for step in before})
            (record,) = await app.turns.aget(
                "acme", app.session_id("acme", "support", f"m3-{name}"), result.turn_number
            )
            attempts = sum(m.attempts for m in result.models)
            mismatches += attempts != delta.total()
            not_called = [s for s in record.skipped_calls if s.step in LLM_STEPS]
            turns += 1
            calls += delta.total()
            made.update(+delta)
            skipped.update(s.step for s in not_called)
            where = f"{result.scenario}/{result.step}" if result.scenario else "-"
            print(
                f"   {name:6s} {line.message[:40]:40s} {delta.total()} calls "
                f"[{', '.join(sorted(+delta))}]  skipped [{', '.join(s.step for s in not_called)}]  "
                f"rules {','.join(result.matched_rules) or '-'}  at {where}  tools "
                f"{','.join(t.tool_id for t in result.tools) or '-'}"
            )
    mean = calls / turns
    breakdown = ", ".join(f"{step} {made[step] / turns:.2f}" for step in LLM_STEPS)
    skips = ", ".join(f"{step} {skipped[step]}" for step in LLM_STEPS if skipped[step])
    print(f"   mean {mean:.2f} LLM calls per turn over {turns} turns; per turn by step: {breakdown}")
    print(f"   calls skipped (no model needed): {skips or 'none'} of {turns} turns")
    if mismatches:
        print(f"   WARNING: in {mismatches} turn(s) TurnResult.models' attempts differ from the model's invocations")
    else:
        print("   (the invocations equal the attempts listed in TurnResult.models in every turn)")
    return {
        "turns": turns,
        "calls": calls,
        "mean": mean,
        "by_step": {s: made[s] for s in LLM_STEPS},
        "skipped": dict(skipped),
        "without_skips": (calls + skipped.total()) / turns,
    }


# --- the report ------------------------------------------------------------------------------------------


TURN = (
    "Focal.turn end to end, default settings (budgets and telemetry on): session lock and lease, config load, "
    "budget gate, every LLM step through the resilient executor (resolution, breakers, budgets, pricing, telemetry "
    "enqueue), retrieval, tools on the demo shop tables, enforcement, Agno session and turn audit written; the "
    "shipped support agent; fake models answering at once (a real model adds its latency)"
)
BARE = (
    "the turn's own LLM calls (same step instructions, schema, input text and answer) as bare Agent.arun's on one "
    "reused Agent per step, no database, run right after the turn"
)


def metrics(one: dict[str, Any], two: dict[str, dict[str, Any] | str], three: dict[str, Any]) -> list[Metric]:
    """The table's rows from the three measurements."""
    latency = f"{TURN}; SQLite; {one['turns']} turns of the demo conversations after a warm-up"
    rows = [
        measured(
            "turn",
            name,
            unit="ms",
            focal=one[f"turn_{q}_ms"],
            baseline=one[f"bare_{q}_ms"],
            baseline_name=BARE,
            includes=latency,
        )
        for name, q in (("turn p50", "p50"), ("turn p95", "p95"))
    ]
    rows.append(
        measured(
            "turn",
            "overhead p50 per turn",
            unit="ms",
            focal=one["overhead_p50_ms"],
            goal=Goal(op="<=", threshold=5),
            includes=f"{latency}; turn p50 minus the p50 of its calls made bare",
        )
    )
    bare_rate = 1000 / one["bare_mean_ms"]
    for backend, label, goal in (
        ("sqlite", "SQLite", None),
        ("postgresql", "PostgreSQL", Goal(op=">=", threshold=300)),
    ):
        name = f"throughput {label}"
        figures = two[backend]
        if isinstance(figures, str):
            rows.append(skipped("turn", name, figures, unit="turns/s", goal=goal))
            continue
        failed = f"; FAILED turns: {figures['failures']}" if figures["failures"] else ""
        rows.append(
            measured(
                "turn",
                name,
                unit="turns/s",
                focal=float(figures["turns_per_s"]),
                baseline=bare_rate,
                baseline_name=(
                    "those bare calls back to back, per turn (1000 / their mean ms on SQLite): an upper bound for the "
                    "same LLM calls with no orchestration on one core"
                ),
                goal=goal,
                includes=(
                    f"{TURN}; 200 concurrent sessions over 50 tenants, {len(figures['rounds'])} round(s) of 200 "
                    f"concurrent turns after a warm-up round, each round's telemetry flushed inside its time{failed}"
                ),
            )
        )
    rows.append(
        measured(
            "turn",
            "LLM calls per turn (demo)",
            unit="calls",
            focal=three["mean"],
            baseline=three["without_skips"],
            baseline_name="the calls a turn would make if no step ever skipped its model (calls + skipped)",
            goal=Goal(op="<=", threshold=2.0),
            includes=f"{TURN}; SQLite; the fake model's invocations over the {three['turns']} demo conversation turns",
        )
    )
    return rows


async def measure(
    turns: int = 400, rounds: int = 3, postgres_url: str | None = DEFAULT_PG, warmup: int = 40
) -> tuple[dict[str, Any], dict[str, dict[str, Any] | str], dict[str, Any]]:
    """Run the three measurements and print them; returns their figures."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"turn  (Focal.turn, default settings, fake models with zero latency; {os.cpu_count()} CPUs, load {load:.2f})"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        app, answers = await _open(f"sqlite:///{tmp}/turn.db", tmp / "overhead", ["acme"])
        try:
            one = await overhead(app, answers, turns, warmup)
        finally:
            await app.aclose()
        two = await throughputs(tmp, rounds, postgres_url)
        app, answers = await _open(f"sqlite:///{tmp}/calls.db", tmp / "calls", ["acme"])
        try:
            three = await calls_per_turn(app, answers)
        finally:
            await app.aclose()
    return one, two, three


def run(options: Options, *, turns: int | None = None, rounds: int | None = None) -> list[Metric]:
    """Measure (40 turns after 5 warm-up, one throughput round with `options.quick`) and return the metrics."""
    quick = options.quick
    figures = asyncio.run(
        measure(
            turns or (40 if quick else 400),
            rounds or (1 if quick else 3),
            options.postgres_url,
            warmup=5 if quick else 40,
        )
    )
    return metrics(*figures)


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("turn", __doc__, postgres=True)
    parser.add_argument("--turns", type=int, default=None, help="measured turns for the overhead (400; 40 --quick)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="measured rounds of 200 concurrent turns (3; 1 --quick)"
    )
    args = parser.parse_args(argv)
    main_one("turn", lambda options: run(options, turns=args.turns, rounds=args.rounds), args)


if __name__ == "__main__":
    main()
