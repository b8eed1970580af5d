"""Retention of workflow runs: purged runs are folded into daily aggregates (both databases).

The runs (NOW = 2026-11-22 12:00 UTC, OLD = 40 days earlier = 2026-10-13 12:00; agent `support`
unless noted; a 30-day run retention purges every OLD run):

  id  tenant workflow  status    started   duration calls  in    out  cost    premium fallbacks
  a1  acme   alignment completed OLD       90 s     3      3000  300  0.004   0.02    1
  b1  acme   alignment completed OLD+30m   10 s     1      50    5    0.0001  0.0002  0   (agent billing)
  a2  acme   alignment error     OLD+1h    30 s     1      500   0    0.001   0.003   0
  a3  acme   alignment completed OLD+2h    60 s     2      1000  100  0.002   0.01    0
  t1  globex triage    running   OLD+3h    -        1      100   10   0.0005  0.001   0
  a4  acme   alignment completed NOW-1h    45 s     2      2000  200  0.003   0.012   1
  t2  globex triage    completed NOW-2h    15 s     1      100   10   0.0004  0.001   0

a1 also has 100 cached input and 50 reasoning tokens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from focal.storage import WorkflowRunDailyAggregate, make_async_engine, make_sync_engine, upgrade
from focal.telemetry import TelemetryAnalytics, TelemetryStore, WorkflowRunRecord, purge

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=40)
D = Decimal


def run(
    run_id: str, started: dt.datetime, seconds: int | None, *, cost: str, premium: str, **kw: Any
) -> WorkflowRunRecord:
    base: dict[str, Any] = dict(
        tenant_id="acme", agent_id="support", workflow_name="alignment", status="completed", call_count=1
    )
    inp, out = kw.pop("input_tokens", 0), kw.pop("output_tokens", 0)
    return WorkflowRunRecord(
        run_id=run_id,
        started_at=started,
        ended_at=None if seconds is None else started + dt.timedelta(seconds=seconds),
        input_tokens=inp,
        output_tokens=out,
        total_tokens=inp + out,
        cost_usd=D(cost),
        premium_cost_usd=D(premium),
        **(base | kw),
    )


RUNS = [
    run(
        "a1", OLD, 90, cost="0.004", premium="0.02", call_count=3, input_tokens=3000, output_tokens=300,
        cached_input_tokens=100, reasoning_tokens=50, fallback_count=1,
    ),
    run("b1", OLD + dt.timedelta(minutes=30), 10, cost="0.0001", premium="0.0002", agent_id="billing",
        input_tokens=50, output_tokens=5),
    run("a2", OLD + dt.timedelta(hours=1), 30, cost="0.001", premium="0.003", status="error",
        error="ProviderUnavailable", input_tokens=500),
    run("a3", OLD + dt.timedelta(hours=2), 60, cost="0.002", premium="0.01", call_count=2, input_tokens=1000,
        output_tokens=100),
    run("t1", OLD + dt.timedelta(hours=3), None, cost="0.0005", premium="0.001", tenant_id="globex",
        workflow_name="triage", status="running", input_tokens=100, output_tokens=10),
    run("a4", NOW - dt.timedelta(hours=1), 45, cost="0.003", premium="0.012", call_count=2, input_tokens=2000,
        output_tokens=200, fallback_count=1),
    run("t2", NOW - dt.timedelta(hours=2), 15, cost="0.0004", premium="0.001", tenant_id="globex",
        workflow_name="triage", input_tokens=100, output_tokens=10),
]  # fmt: skip

ALIGNMENT = {
    "workflow": "alignment",
    "runs": 5,
    "errors": 1,
    "calls": 9,
    "input_tokens": 6550,
    "output_tokens": 605,
    "cached_input_tokens": 100,
    "reasoning_tokens": 50,
    "total_tokens": 7155,
    "cost_usd": D("0.0101"),
    "premium_cost_usd": D("0.0452"),
    "savings_usd": D("0.0351"),
    "avg_cost_usd": D("0.00202"),
    "max_cost_usd": D("0.004"),
    "fallbacks": 2,
    "avg_duration_ms": 47000.0,  # (90 + 10 + 30 + 60 + 45) s / 5
}
TRIAGE = {
    "workflow": "triage",
    "runs": 2,
    "errors": 0,
    "calls": 2,
    "input_tokens": 200,
    "output_tokens": 20,
    "cached_input_tokens": 0,
    "reasoning_tokens": 0,
    "total_tokens": 220,
    "cost_usd": D("0.0009"),
    "premium_cost_usd": D("0.002"),
    "savings_usd": D("0.0011"),
    "avg_cost_usd": D("0.00045"),
    "max_cost_usd": D("0.0005"),
    "fallbacks": 0,
    "avg_duration_ms": 15000.0,  # t1 is still running: only t2 has a duration
}
TOP = [
    {
        "workflow": "alignment",
        "runs": 5,
        "total_cost_usd": D("0.0101"),
        "avg_cost_usd": D("0.00202"),
        "max_cost_usd": D("0.004"),
        "savings_usd": D("0.0351"),
        "fallbacks": 2,
    },
    {
        "workflow": "triage",
        "runs": 2,
        "total_cost_usd": D("0.0009"),
        "avg_cost_usd": D("0.00045"),
        "max_cost_usd": D("0.0005"),
        "savings_usd": D("0.0011"),
        "fallbacks": 0,
    },
]
# day, tenant, agent, workflow, status, runs, calls, input, cost, premium, max cost, ended runs, duration
AGGREGATES = [
    ("2026-10-13", "acme", "billing", "alignment", "completed", 1, 1, 50, 100_000, 200_000, 100_000, 1, 10_000.0),
    ("2026-10-13", "acme", "support", "alignment", "completed", 2, 5, 4000, 6_000_000, 30_000_000, 4_000_000, 2,
     150_000.0),
    ("2026-10-13", "acme", "support", "alignment", "error", 1, 1, 500, 1_000_000, 3_000_000, 1_000_000, 1, 30_000.0),
    ("2026-10-13", "globex", "support", "triage", "running", 1, 1, 100, 500_000, 1_000_000, 500_000, 0, 0.0),
]  # fmt: skip


async def record(database_url: str, spill: Path, runs: list[WorkflowRunRecord]) -> None:
    async_engine = make_async_engine(database_url)
    store = TelemetryStore(async_engine, spill_dir=spill)
    for r in runs:
        store.record_run(r)
    await store.aclose()
    await async_engine.dispose()


@pytest.fixture
async def analytics(database_url: str, tmp_path: Path) -> AsyncIterator[TelemetryAnalytics]:
    upgrade(database_url)
    await record(database_url, tmp_path / "spill", RUNS)
    engine = make_sync_engine(database_url)
    yield TelemetryAnalytics(engine)
    engine.dispose()


def aggregates(a: TelemetryAnalytics) -> list[tuple[Any, ...]]:
    t = WorkflowRunDailyAggregate
    stmt = select(
        t.day, t.tenant_id, t.agent_id, t.workflow_name, t.status, t.runs, t.call_count, t.input_tokens, t.cost_nusd,
        t.premium_cost_nusd, t.max_cost_nusd, t.ended_runs, t.duration_ms_sum,
    ).order_by(t.day, t.tenant_id, t.agent_id, t.workflow_name, t.status)  # fmt: skip
    with a._engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def workflow_figures(a: TelemetryAnalytics) -> dict[str, Any]:
    """Every run-level figure that includes the aggregates, with the filters that select whole days."""
    return {
        "all": a.cost_by_workflow(),
        "top": a.top_expensive_workflows(),
        "top1": a.top_expensive_workflows(limit=1),
        "globex": a.cost_by_workflow(tenant="globex"),
        "since_old_day": a.cost_by_workflow(since=dt.datetime(2026, 10, 13, tzinfo=dt.UTC)),
        "since_week": a.cost_by_workflow(since=NOW - dt.timedelta(days=7)),
    }


def test_cost_by_workflow_and_top_workflows(analytics: TelemetryAnalytics) -> None:
    assert analytics.cost_by_workflow() == [ALIGNMENT, TRIAGE]
    assert analytics.top_expensive_workflows() == TOP
    assert analytics.top_expensive_workflows(limit=1) == TOP[:1]
    assert analytics.cost_by_workflow(tenant="globex") == [TRIAGE]
    recent = analytics.cost_by_workflow(since=NOW - dt.timedelta(days=7))
    assert [(w["workflow"], w["runs"], w["cost_usd"], w["avg_duration_ms"]) for w in recent] == [
        ("alignment", 1, D("0.003"), 45000.0),
        ("triage", 1, D("0.0004"), 15000.0),
    ]
    assert analytics.cost_by_workflow(tenant="nobody") == []
    assert aggregates(analytics) == []


def test_purge_folds_runs_and_keeps_workflow_totals(analytics: TelemetryAnalytics) -> None:
    engine = analytics._engine
    before = workflow_figures(analytics)
    dry = purge(engine, days=365, runs_days=30, now=NOW)
    assert [(r["table"], r["rows"], r["purged"]) for r in dry] == [("llm_calls", 0, False), ("workflow_runs", 5, False)]
    assert aggregates(analytics) == []  # a dry run folds nothing

    done = purge(engine, days=365, runs_days=30, apply=True, now=NOW)
    assert [(r["table"], r["rows"], r["purged"]) for r in done] == [("llm_calls", 0, True), ("workflow_runs", 5, True)]
    assert [r.run_id for r in analytics.runs()] == ["a4", "t2"]  # single records: only the kept rows
    assert aggregates(analytics) == AGGREGATES
    assert workflow_figures(analytics) == before
    assert analytics.cost_by_workflow() == [ALIGNMENT, TRIAGE]


def test_purging_twice_is_idempotent(analytics: TelemetryAnalytics) -> None:
    engine = analytics._engine
    before = workflow_figures(analytics)
    purge(engine, days=365, runs_days=30, apply=True, now=NOW)
    again = purge(engine, days=365, runs_days=30, apply=True, now=NOW)
    assert [(r["table"], r["rows"]) for r in again] == [("llm_calls", 0), ("workflow_runs", 0)]
    assert aggregates(analytics) == AGGREGATES
    assert workflow_figures(analytics) == before


async def test_a_late_run_replayed_after_a_purge_is_folded_by_the_next(
    analytics: TelemetryAnalytics, database_url: str, tmp_path: Path
) -> None:
    engine = analytics._engine
    purge(engine, days=365, runs_days=30, apply=True, now=NOW)
    # runs of the purged day arriving late (a spill replayed after the purge): kept, then folded in,
    # a5 costing more than any folded run of its group, a6 less
    late = [
        run("a5", OLD + dt.timedelta(hours=4), 20, cost="0.005", premium="0.006", input_tokens=10, output_tokens=1),
        run("a6", OLD + dt.timedelta(hours=5), 5, cost="0.0001", premium="0.0002", status="error", error="Timeout"),
    ]
    await record(database_url, tmp_path / "late", late)
    alignment = analytics.cost_by_workflow()[0]
    assert alignment == ALIGNMENT | {
        "runs": 7,
        "errors": 2,
        "calls": 11,
        "input_tokens": 6560,
        "output_tokens": 606,
        "total_tokens": 7166,
        "cost_usd": D("0.0152"),
        "premium_cost_usd": D("0.0514"),
        "savings_usd": D("0.0362"),
        "avg_cost_usd": D("0.0152") / 7,
        "max_cost_usd": D("0.005"),
        "avg_duration_ms": 260_000 / 7,  # (235 s before + 20 s + 5 s) / 7
    }
    before = workflow_figures(analytics)

    done = purge(engine, days=365, runs_days=30, apply=True, now=NOW)
    assert [(r["table"], r["rows"]) for r in done] == [("llm_calls", 0), ("workflow_runs", 2)]
    assert [r.run_id for r in analytics.runs()] == ["a4", "t2"]
    assert workflow_figures(analytics) == before
    assert aggregates(analytics) == [
        AGGREGATES[0],
        # added to the existing rows of that day and key; the larger maximum wins
        ("2026-10-13", "acme", "support", "alignment", "completed", 3, 6, 4010, 11_000_000, 36_000_000, 5_000_000, 3,
         170_000.0),
        ("2026-10-13", "acme", "support", "alignment", "error", 2, 2, 500, 1_100_000, 3_200_000, 1_000_000, 2,
         35_000.0),
        AGGREGATES[3],
    ]  # fmt: skip
