"""Every analytics figure, asserted exactly on crafted records, before and after retention (both databases).

The calls (NOW = 2026-11-22 12:00 UTC; agent `support` and task `response_generation` unless noted):

  id  tenant step            provider tier model        status  hop cause                 in  out  cost     premium  ms
  c1  acme   generation      anthropic capable sonnet   success 0                       1000  100  0.0045   0.0075  100
  c2  acme   generation      anthropic capable sonnet   error   0                          0    0  0        0       300
  c3  acme   generation      openai capable gpt-4o      success 1   ProviderUnavailable 1000  100  0.0035   0.021   200
  c4  acme   rule_filtering  openai cheap gpt-4o-mini   success 0                        500   20  0.00021  0.021    50
  c5  globex enforcement     openai capable gpt-4o      success 0                        800   50  0.0035   0.021   400
  c6  acme   generation      anthropic capable sonnet   skipped 1   circuit_open           0    0  0        0         0
  c7  globex generation      ollama cheap llama3.2:3b   success 2   RateLimitError       300   30  0        0       900

c1 has 200 cached input tokens; c4 is agent `billing`, task `rule_filtering`, a day old; c5 (task
`enforcement_judging`) and c7 (no task type) are 40 days old, so a 30-day retention purges them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from focal.storage import TelemetryDailyAggregate, make_async_engine, make_sync_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryAnalytics, TelemetryStore, WorkflowRunRecord, purge

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=40)  # 2026-10-13
D = Decimal


def rec(call_id: str, **kw: Any) -> LLMCallRecord:
    base: dict[str, Any] = dict(
        tenant_id="acme",
        agent_id="support",
        step_name="generation",
        task_type="response_generation",
        provider="anthropic",
        tier="capable",
        model_id="claude-sonnet-5",
        created_at=NOW,
    )
    return LLMCallRecord(call_id=call_id, **(base | kw))


C1 = rec(
    "c1", input_tokens=1000, output_tokens=100, cached_input_tokens=200, cache_write_tokens=300, cost_usd=D("0.0045"),
    premium_cost_usd=D("0.0075"), latency_ms=100.0,
)  # fmt: skip
C2 = rec("c2", status="error", error_class="ProviderUnavailable", latency_ms=300.0)
C3 = rec(
    "c3", provider="openai", model_id="gpt-4o", input_tokens=1000, output_tokens=100, cost_usd=D("0.0035"),
    premium_cost_usd=D("0.021"), latency_ms=200.0, fallback_hop=1, fallback_cause="ProviderUnavailable",
)  # fmt: skip
C4 = rec(
    "c4", agent_id="billing", step_name="rule_filtering", task_type="rule_filtering", provider="openai",
    tier="cheap", model_id="gpt-4o-mini", input_tokens=500, output_tokens=20, cost_usd=D("0.00021"),
    premium_cost_usd=D("0.021"), latency_ms=50.0, created_at=NOW - dt.timedelta(days=1),
)  # fmt: skip
C5 = rec(
    "c5", tenant_id="globex", step_name="enforcement", task_type="enforcement_judging", provider="openai",
    model_id="gpt-4o", input_tokens=800, output_tokens=50, cost_usd=D("0.0035"), premium_cost_usd=D("0.021"),
    latency_ms=400.0, created_at=OLD,
)  # fmt: skip
C6 = rec("c6", status="skipped", fallback_hop=1, fallback_cause="circuit_open")
C7 = rec(
    "c7", tenant_id="globex", task_type=None, provider="ollama", tier="cheap", model_id="llama3.2:3b",
    input_tokens=300, output_tokens=30, latency_ms=900.0, fallback_hop=2, fallback_cause="RateLimitError",
    created_at=OLD,
)  # fmt: skip
CALLS = [C1, C2, C3, C4, C5, C6, C7]


def run(run_id: str, tenant: str, workflow: str, started: dt.datetime, calls: list[LLMCallRecord]) -> WorkflowRunRecord:
    r = WorkflowRunRecord(
        run_id=run_id,
        tenant_id=tenant,
        agent_id="support",
        workflow_name=workflow,
        status="completed",
        started_at=started,
        ended_at=started + dt.timedelta(minutes=1),
    )
    for c in calls:
        r.add_call(c)
    return r


RUNS = [
    run("r1", "acme", "alignment", NOW, [C1, C2, C3, C4]),
    run("r2", "globex", "triage", OLD, [C5, C7]),
    run("r3", "acme", "alignment", NOW - dt.timedelta(days=1), [C6]),
]

# (key, calls, input, output, cached input, cost, premium cost): skipped attempts are not calls
COST_BY = {
    "provider": [
        ("openai", 3, 2300, 170, 0, "0.00721", "0.063"),
        ("anthropic", 2, 1000, 100, 200, "0.0045", "0.0075"),
        ("ollama", 1, 300, 30, 0, "0", "0"),
    ],
    "task": [
        ("response_generation", 3, 2000, 200, 200, "0.008", "0.0285"),
        ("enforcement_judging", 1, 800, 50, 0, "0.0035", "0.021"),
        ("rule_filtering", 1, 500, 20, 0, "0.00021", "0.021"),
        ("(none)", 1, 300, 30, 0, "0", "0"),
    ],
    "tenant": [
        ("acme", 4, 2500, 220, 200, "0.00821", "0.0495"),
        ("globex", 2, 1100, 80, 0, "0.0035", "0.021"),
    ],
    "agent": [
        ("support", 5, 3100, 280, 200, "0.0115", "0.0495"),
        ("billing", 1, 500, 20, 0, "0.00021", "0.021"),
    ],
    "step": [
        ("generation", 4, 2300, 230, 200, "0.008", "0.0285"),
        ("enforcement", 1, 800, 50, 0, "0.0035", "0.021"),
        ("rule_filtering", 1, 500, 20, 0, "0.00021", "0.021"),
    ],
    "model": [
        ("gpt-4o", 2, 1800, 150, 0, "0.007", "0.042"),
        ("claude-sonnet-5", 2, 1000, 100, 200, "0.0045", "0.0075"),
        ("gpt-4o-mini", 1, 500, 20, 0, "0.00021", "0.021"),
        ("llama3.2:3b", 1, 300, 30, 0, "0", "0"),
    ],
    "tier": [
        ("capable", 4, 2800, 250, 200, "0.0115", "0.0495"),
        ("cheap", 2, 800, 50, 0, "0.00021", "0.021"),
    ],
}
SAVINGS = {
    "calls": 6,
    "cost_usd": D("0.01171"),
    "premium_cost_usd": D("0.0705"),
    "savings_usd": D("0.05879"),
    "savings_percent": 83.39,
}
COST_OVER_TIME = [
    {"day": "2026-10-13", "tier": "capable", "cost_usd": D("0.0035")},
    {"day": "2026-10-13", "tier": "cheap", "cost_usd": D("0")},
    {"day": "2026-11-21", "tier": "cheap", "cost_usd": D("0.00021")},
    {"day": "2026-11-22", "tier": "capable", "cost_usd": D("0.008")},
]


def expected_cost_by(dimension: str) -> list[dict[str, Any]]:
    return [
        {
            dimension: key,
            "calls": calls,
            "input_tokens": inp,
            "output_tokens": out,
            "cached_input_tokens": cached,
            "cache_write_tokens": 300 if cached == 200 else 0,  # only c1 reads (200) and writes (300) the cache
            "cost_usd": D(cost),
            "premium_cost_usd": D(premium),
            "savings_usd": D(premium) - D(cost),
        }
        for key, calls, inp, out, cached, cost, premium in COST_BY[dimension]
    ]


@pytest.fixture
async def analytics(database_url: str, tmp_path: Path) -> AsyncIterator[TelemetryAnalytics]:
    upgrade(database_url)
    async_engine = make_async_engine(database_url)
    store = TelemetryStore(async_engine, spill_dir=tmp_path / "spill")
    for c in CALLS:
        store.record_call(c)
    for r in RUNS:
        store.record_run(r)
    await store.aclose()
    await async_engine.dispose()
    engine = make_sync_engine(database_url)
    yield TelemetryAnalytics(engine)
    engine.dispose()


def assert_costs_unchanged(a: TelemetryAnalytics) -> None:
    for dimension in COST_BY:
        assert a.cost_by(dimension) == expected_cost_by(dimension), dimension
    assert a.savings_vs_premium() == SAVINGS
    assert a.cost_over_time(by="tier") == COST_OVER_TIME


def test_cost_savings_and_cost_over_time(analytics: TelemetryAnalytics) -> None:
    assert_costs_unchanged(analytics)
    acme = analytics.cost_by("provider", tenant="acme")
    assert [(r["provider"], r["calls"], r["cost_usd"]) for r in acme] == [
        ("anthropic", 2, D("0.0045")),
        ("openai", 2, D("0.00371")),
    ]
    recent = analytics.savings_vs_premium(since=NOW - dt.timedelta(days=7))
    assert recent == {
        "calls": 4,
        "cost_usd": D("0.00821"),
        "premium_cost_usd": D("0.0495"),
        "savings_usd": D("0.04129"),
        "savings_percent": 83.41,
    }
    assert analytics.savings_vs_premium(tenant="nobody")["savings_percent"] == 0.0


def test_provider_usage(analytics: TelemetryAnalytics) -> None:
    assert analytics.provider_usage() == [
        {
            "provider": "anthropic",
            "calls": 2,
            "errors": 1,
            "error_rate": 0.5,
            "p50_latency_ms": 100.0,
            "p95_latency_ms": 300.0,
            "input_tokens": 1000,
            "output_tokens": 100,
            "cost_usd": D("0.0045"),
        },
        {
            "provider": "ollama",
            "calls": 1,
            "errors": 0,
            "error_rate": 0.0,
            "p50_latency_ms": 900.0,
            "p95_latency_ms": 900.0,
            "input_tokens": 300,
            "output_tokens": 30,
            "cost_usd": D("0"),
        },
        {
            "provider": "openai",
            "calls": 3,
            "errors": 0,
            "error_rate": 0.0,
            "p50_latency_ms": 200.0,
            "p95_latency_ms": 400.0,
            "input_tokens": 2300,
            "output_tokens": 170,
            "cost_usd": D("0.00721"),
        },
    ]


def test_fallback_stats(analytics: TelemetryAnalytics) -> None:
    assert analytics.fallback_stats() == [
        {"step": "enforcement", "calls": 1, "answered": 1, "by_fallback": 0, "fallback_rate": 0.0, "causes": {}},
        {
            "step": "generation",
            "calls": 5,
            "answered": 3,
            "by_fallback": 2,
            "fallback_rate": 0.6667,
            "causes": {"ProviderUnavailable": 1, "RateLimitError": 1},
        },
        {"step": "rule_filtering", "calls": 1, "answered": 1, "by_fallback": 0, "fallback_rate": 0.0, "causes": {}},
    ]
    globex = [(r["step"], r["calls"], r["by_fallback"], r["fallback_rate"], r["causes"]) for r in
              analytics.fallback_stats(tenant="globex")]  # fmt: skip
    assert globex == [("enforcement", 1, 0, 0.0, {}), ("generation", 1, 1, 1.0, {"RateLimitError": 1})]
    recent = [(r["step"], r["calls"], r["answered"], r["fallback_rate"], r["causes"]) for r in
              analytics.fallback_stats(since=NOW - dt.timedelta(days=7))]  # fmt: skip
    assert recent == [("generation", 4, 2, 0.5, {"ProviderUnavailable": 1}), ("rule_filtering", 1, 1, 0.0, {})]


def test_calls_runs_and_top_workflows(analytics: TelemetryAnalytics) -> None:
    assert [c.call_id for c in analytics.calls()] == ["c1", "c2", "c3", "c6", "c4", "c5", "c7"]
    assert [c.call_id for c in analytics.calls(since=NOW - dt.timedelta(days=7), limit=3)] == ["c1", "c2", "c3"]
    assert [c.call_id for c in analytics.calls(tenant="globex")] == ["c5", "c7"]
    assert analytics.calls(tenant="acme", limit=1)[0] == C1  # the stored record reads back whole
    assert [r.run_id for r in analytics.runs()] == ["r1", "r3", "r2"]
    assert [r.run_id for r in analytics.runs(tenant="acme", since=NOW - dt.timedelta(hours=1))] == ["r1"]
    assert analytics.runs(tenant="globex")[0] == RUNS[1]
    assert analytics.top_expensive_workflows() == [
        {
            "workflow": "alignment",
            "runs": 2,
            "total_cost_usd": D("0.00821"),
            "avg_cost_usd": D("0.004105"),
            "max_cost_usd": D("0.00821"),
            "savings_usd": D("0.04129"),
            "fallbacks": 1,
        },
        {
            "workflow": "triage",
            "runs": 1,
            "total_cost_usd": D("0.0035"),
            "avg_cost_usd": D("0.0035"),
            "max_cost_usd": D("0.0035"),
            "savings_usd": D("0.0175"),
            "fallbacks": 1,
        },
    ]
    assert [w["workflow"] for w in analytics.top_expensive_workflows(limit=1)] == ["alignment"]
    assert [w["workflow"] for w in analytics.top_expensive_workflows(tenant="globex")] == ["triage"]


async def test_retention_keeps_every_cost_figure(
    analytics: TelemetryAnalytics, database_url: str, tmp_path: Path
) -> None:
    engine = analytics._engine
    dry = purge(engine, days=30, now=NOW)
    assert [(r["table"], r["rows"], r["purged"]) for r in dry] == [("llm_calls", 2, False), ("workflow_runs", 1, False)]
    assert len(analytics.calls()) == 7  # a dry run deletes nothing
    done = purge(engine, days=30, apply=True, now=NOW)
    assert [(r["table"], r["rows"], r["purged"]) for r in done] == [("llm_calls", 2, True), ("workflow_runs", 1, True)]
    assert [c.call_id for c in analytics.calls()] == ["c1", "c2", "c3", "c6", "c4"]
    assert [r.run_id for r in analytics.runs()] == ["r1", "r3"]
    assert_costs_unchanged(analytics)  # the daily aggregates carry the purged days, "(none)" task included
    assert analytics.cost_by("tenant", since=OLD - dt.timedelta(hours=1))[1]["tenant"] == "globex"
    assert [r["tenant"] for r in analytics.cost_by("tenant", since=NOW - dt.timedelta(days=7))] == ["acme"]
    # raw-only figures lose the purged rows (percentiles cannot be rebuilt from sums)
    assert [p["provider"] for p in analytics.provider_usage()] == ["anthropic", "openai"]
    with engine.connect() as conn:
        aggregates = [
            (a.day, a.tenant_id, a.provider, a.task_type, a.calls, a.input_tokens, a.cost_nusd, a.latency_ms_sum)
            for a in conn.execute(select(TelemetryDailyAggregate).order_by(TelemetryDailyAggregate.provider))
        ]
    assert aggregates == [
        ("2026-10-13", "globex", "ollama", "", 1, 300, 0, 900.0),
        ("2026-10-13", "globex", "openai", "enforcement_judging", 1, 800, 3_500_000, 400.0),
    ]
    with engine.connect() as conn:
        fallbacks = conn.execute(select(TelemetryDailyAggregate.provider, TelemetryDailyAggregate.fallback_calls))
        assert sorted(fallbacks) == [("ollama", 1), ("openai", 0)]
    assert purge(engine, days=30, apply=True, now=NOW)[0]["rows"] == 0  # nothing left: totals unchanged
    assert_costs_unchanged(analytics)

    # a record of a purged day arriving late (a spill replayed after the purge) is kept, then folded in
    late = rec(
        "c8", tenant_id="globex", step_name="enforcement", task_type="enforcement_judging", provider="openai",
        model_id="gpt-4o", input_tokens=100, output_tokens=10, cost_usd=D("0.001"), premium_cost_usd=D("0.002"),
        latency_ms=10.0, created_at=OLD + dt.timedelta(hours=1),
    )  # fmt: skip
    async_engine = make_async_engine(database_url)
    store = TelemetryStore(async_engine, spill_dir=tmp_path / "late")
    store.record_call(late)
    await store.aclose()
    await async_engine.dispose()
    globex = next(r for r in analytics.cost_by("tenant") if r["tenant"] == "globex")
    assert (globex["calls"], globex["cost_usd"]) == (3, D("0.0045"))
    assert purge(engine, days=30, apply=True, now=NOW)[0]["rows"] == 1
    assert next(r for r in analytics.cost_by("tenant") if r["tenant"] == "globex") == globex
    with engine.connect() as conn:
        row = conn.execute(
            select(TelemetryDailyAggregate).where(TelemetryDailyAggregate.provider == "openai")
        ).one()  # added to the existing row of that day and key
    assert (row.calls, row.input_tokens, row.cost_nusd, row.premium_cost_nusd) == (2, 900, 4_500_000, 23_000_000)
