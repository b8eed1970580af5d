"""TelemetryAnalytics, retention, export and the HTML report on crafted records, on both databases."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from focal.storage import make_async_engine, make_sync_engine, upgrade
from focal.telemetry import (
    LLMCallRecord,
    TelemetryAnalytics,
    TelemetryStore,
    WorkflowRunRecord,
    export_jsonl,
    purge,
    write_report,
)

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
D = Decimal


def rec(**kw) -> LLMCallRecord:  # type: ignore[no-untyped-def]
    base = dict(
        tenant_id="acme",
        agent_id="support",
        step_name="generation",
        task_type="response_generation",
        provider="anthropic",
        tier="capable",
        model_id="claude-sonnet-5",
        input_tokens=1000,
        output_tokens=100,
        total_tokens=1100,
        cost_usd=D("0.0045"),
        premium_cost_usd=D("0.0075"),
        latency_ms=100.0,
        created_at=NOW,
    )
    base.update(kw)
    return LLMCallRecord(**base)


RECORDS = [
    rec(),  # success on the primary
    rec(
        latency_ms=300.0,
        status="error",
        error_class="ProviderUnavailable",
        cost_usd=D(0),
        premium_cost_usd=D(0),
        input_tokens=0,
        output_tokens=0,
        total_tokens=0,
    ),
    rec(
        provider="openai",
        tier="capable",
        model_id="gpt-4o",
        cost_usd=D("0.0035"),
        premium_cost_usd=D("0.021"),
        fallback_hop=1,
        fallback_cause="ProviderUnavailable",
        latency_ms=200.0,
    ),
    rec(
        step_name="rule_filtering",
        task_type="rule_filtering",
        provider="openai",
        tier="cheap",
        model_id="gpt-4o-mini",
        cost_usd=D("0.00021"),
        premium_cost_usd=D("0.021"),
        latency_ms=50.0,
    ),
    rec(
        tenant_id="globex",
        step_name="enforcement",
        task_type="enforcement_judging",
        provider="openai",
        model_id="gpt-4o",
        cost_usd=D("0.0035"),
        premium_cost_usd=D("0.021"),
        latency_ms=400.0,
        created_at=NOW - dt.timedelta(days=40),
    ),
    rec(
        status="skipped",
        fallback_cause="circuit_open",
        cost_usd=D(0),
        premium_cost_usd=D(0),
        input_tokens=0,
        output_tokens=0,
        total_tokens=0,
        latency_ms=0.0,
    ),
]


@pytest.fixture
async def analytics(database_url: str, tmp_path: Path) -> AsyncIterator[TelemetryAnalytics]:
    upgrade(database_url)
    async_engine = make_async_engine(database_url)
    store = TelemetryStore(async_engine, spill_dir=tmp_path)
    for r in RECORDS:
        store.record_call(r)
    run = WorkflowRunRecord(
        tenant_id="acme", agent_id="support", workflow_name="alignment", status="completed", started_at=NOW
    )
    for r in RECORDS[:4]:
        run.add_call(r)
    store.record_run(run)
    store.record_run(
        WorkflowRunRecord(
            tenant_id="globex",
            agent_id="support",
            workflow_name="triage",
            status="completed",
            started_at=NOW,
            cost_usd=D("0.0035"),
            premium_cost_usd=D("0.021"),
        )
    )
    await store.aclose()
    await async_engine.dispose()
    engine = make_sync_engine(database_url)
    yield TelemetryAnalytics(engine)
    engine.dispose()


def test_cost_by_every_dimension(analytics: TelemetryAnalytics) -> None:
    by_provider = {r["provider"]: r for r in analytics.cost_by("provider")}
    assert by_provider["openai"]["calls"] == 3
    assert by_provider["openai"]["cost_usd"] == D("0.00721")
    assert by_provider["anthropic"]["calls"] == 2  # skipped attempts cost nothing and are not calls
    assert by_provider["anthropic"]["cost_usd"] == D("0.0045")
    assert [r["tenant"] for r in analytics.cost_by("tenant")] == ["acme", "globex"]
    steps = {r["step"]: r["cost_usd"] for r in analytics.cost_by("step", tenant="acme")}
    assert steps == {"generation": D("0.008"), "rule_filtering": D("0.00021")}
    tasks = {r["task"] for r in analytics.cost_by("task")}
    assert tasks == {"response_generation", "rule_filtering", "enforcement_judging"}
    assert {r["model"] for r in analytics.cost_by("model")} == {"claude-sonnet-5", "gpt-4o", "gpt-4o-mini"}
    assert {r["agent"] for r in analytics.cost_by("agent")} == {"support"}
    with pytest.raises(ValueError):
        analytics.cost_by("colour")


def test_since_and_tenant_filters(analytics: TelemetryAnalytics) -> None:
    recent = analytics.cost_by("tenant", since=NOW - dt.timedelta(days=7))
    assert [r["tenant"] for r in recent] == ["acme"]
    assert analytics.cost_by("tenant", tenant="nobody") == []
    assert [c.tenant_id for c in analytics.calls(tenant="globex")] == ["globex"]


def test_savings_formula(analytics: TelemetryAnalytics) -> None:
    s = analytics.savings_vs_premium()
    assert s["cost_usd"] == D("0.01171")
    assert s["premium_cost_usd"] == D("0.0705")
    assert s["savings_usd"] == D("0.05879")
    assert s["savings_percent"] == round(float(D("0.05879") / D("0.0705") * 100), 2)


def test_provider_usage_error_rate_and_latency(analytics: TelemetryAnalytics) -> None:
    rows = {r["provider"]: r for r in analytics.provider_usage()}
    anthropic = rows["anthropic"]
    assert (anthropic["calls"], anthropic["errors"], anthropic["error_rate"]) == (2, 1, 0.5)
    assert (anthropic["p50_latency_ms"], anthropic["p95_latency_ms"]) == (100.0, 300.0)
    assert rows["openai"]["p50_latency_ms"] == 200.0 and rows["openai"]["p95_latency_ms"] == 400.0


def test_fallback_stats_by_step(analytics: TelemetryAnalytics) -> None:
    rows = {r["step"]: r for r in analytics.fallback_stats()}
    gen = rows["generation"]
    assert (gen["answered"], gen["by_fallback"], gen["fallback_rate"]) == (2, 1, 0.5)
    assert gen["causes"] == {"ProviderUnavailable": 1}
    assert rows["rule_filtering"]["fallback_rate"] == 0.0


def test_calls_newest_first_and_runs(analytics: TelemetryAnalytics) -> None:
    calls = analytics.calls(limit=10)
    assert len(calls) == 6 and calls[-1].tenant_id == "globex"
    assert calls[0].created_at >= calls[-1].created_at
    runs = analytics.runs()
    acme = next(r for r in runs if r.tenant_id == "acme")
    assert acme.call_count == 4 and acme.cost_usd == D("0.00821") and acme.fallback_count == 1
    top = analytics.top_expensive_workflows()
    assert [w["workflow"] for w in top] == ["alignment", "triage"]
    assert top[0]["total_cost_usd"] == D("0.00821")


def test_retention_folds_then_purges_and_keeps_totals(analytics: TelemetryAnalytics) -> None:
    engine = analytics._engine
    before = {r["tenant"]: r["cost_usd"] for r in analytics.cost_by("tenant")}
    dry = purge(engine, days=30, now=NOW)
    assert [(r["table"], r["rows"], r["purged"]) for r in dry] == [("llm_calls", 1, False), ("workflow_runs", 0, False)]
    assert len(analytics.calls(limit=100)) == 6
    purge(engine, days=30, apply=True, now=NOW)
    assert len(analytics.calls(limit=100)) == 5
    after = {r["tenant"]: r["cost_usd"] for r in analytics.cost_by("tenant")}
    assert after == before  # the daily aggregate carries the purged day
    assert analytics.savings_vs_premium()["cost_usd"] == D("0.01171")
    purge(engine, days=30, apply=True, now=NOW)  # nothing left to fold: idempotent
    assert {r["tenant"]: r["cost_usd"] for r in analytics.cost_by("tenant")} == before
    with pytest.raises(ValueError):
        purge(engine, days=0)


def test_retention_is_set_per_table(analytics: TelemetryAnalytics) -> None:
    engine = analytics._engine
    later = NOW + dt.timedelta(days=10)  # every run started 10 days before `later`
    rows = purge(engine, days=365, runs_days=5, now=later)
    assert [(r["table"], r["rows"]) for r in rows] == [("llm_calls", 0), ("workflow_runs", 2)]
    assert rows[1]["cutoff"] == later - dt.timedelta(days=5) and rows[0]["cutoff"] == later - dt.timedelta(days=365)
    before = analytics.cost_by("tenant")
    workflows = analytics.top_expensive_workflows()
    purge(engine, days=365, runs_days=5, apply=True, now=later)
    assert analytics.runs() == [] and len(analytics.calls(limit=100)) == 6  # calls kept, runs gone
    assert analytics.cost_by("tenant") == before
    assert analytics.top_expensive_workflows() == workflows  # the runs' daily aggregates carry them
    with pytest.raises(ValueError, match="at least 1"):
        purge(engine, days=30, runs_days=0)
    with pytest.raises(ValueError, match="before year 1"):
        purge(engine, days=10**8)


def test_export_round_trips(analytics: TelemetryAnalytics, tmp_path: Path) -> None:
    path = tmp_path / "out" / "telemetry.jsonl"
    counts = export_jsonl(analytics._engine, path)
    assert counts == {"calls": 6, "runs": 2}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    calls = [LLMCallRecord.from_json_dict(x["record"]) for x in lines if x["type"] == "call"]
    assert {c.call_id for c in calls} == {r.call_id for r in RECORDS}
    assert sum(c.cost_usd for c in calls) == D("0.01171")
    assert export_jsonl(analytics._engine, tmp_path / "g.jsonl", tenant="globex") == {"calls": 1, "runs": 1}


def test_report_is_self_contained_html(analytics: TelemetryAnalytics, tmp_path: Path) -> None:
    path = write_report(tmp_path / "report.html", analytics)
    page = path.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "0.058790" in page  # savings
    assert "ProviderUnavailable" in page and "anthropic" in page


async def test_the_report_shows_every_day_however_many(database_url: str, tmp_path: Path) -> None:
    import re

    from focal.storage import make_sync_engine

    upgrade(database_url)
    async_engine = make_async_engine(database_url)
    store = TelemetryStore(async_engine, spill_dir=tmp_path)
    for day in range(150):  # more days than the chart has pixels for 4-pixel bars
        store.record_call(rec(created_at=NOW - dt.timedelta(days=day), cost_usd=D("0.01")))
    await store.aclose()
    await async_engine.dispose()
    engine = make_sync_engine(database_url)
    try:
        page = write_report(tmp_path / "r.html", TelemetryAnalytics(engine)).read_text()
    finally:
        engine.dispose()
    chart = page[page.index("<svg") : page.index("</svg>")]
    width = float(re.search(r'<svg width="(\d+)"', chart).group(1))  # type: ignore[union-attr]
    bars = [(float(x), float(w)) for x, w in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', chart)]
    assert len(bars) >= 150 and max(x + w for x, w in bars) <= width  # the newest day too (and the legend)
    assert "<title>" + NOW.date().isoformat() in chart
