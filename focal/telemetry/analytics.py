"""`TelemetryAnalytics`: where the money goes, how providers behave, how often fallbacks happen.

Reads Focal's database through a synchronous `Engine` (the CLI and reports are synchronous).
Totals include the daily aggregates of purged rows, so they survive retention: `cost_by`,
`savings_vs_premium`, `cost_over_time` (call aggregates), `cost_by_workflow` and
`top_expensive_workflows` (run aggregates). Figures that need individual rows cover only the rows
still kept: `calls` and `runs` (the records themselves), `provider_usage` (latency percentiles, and
errors per provider: aggregates keep neither) and `fallback_stats` (answers from a fallback hop per
step, and their causes).

Savings vs premium — one formula everywhere: for each call, what the same tokens (input, cached
input, output) would have cost on the premium tier of the same provider, minus what the call cost.
It is computed when the call is recorded (`LLMCallRecord.premium_cost_usd`) and summed here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Engine, func, select

from focal.storage.telemetry_tables import (
    LLMCallRow,
    TelemetryDailyAggregate,
    WorkflowRunDailyAggregate,
    WorkflowRunRow,
)
from focal.telemetry._encode import stored_identifier
from focal.telemetry._rows import from_nusd, row_to_call, row_to_run
from focal.telemetry.records import CallStatus, LLMCallRecord, WorkflowRunRecord

__all__ = ["DIMENSIONS", "Dimension", "TelemetryAnalytics"]

Dimension = Literal["task", "tenant", "agent", "step", "provider", "model", "tier"]
DIMENSIONS: dict[str, str] = {
    "task": "task_type",
    "tenant": "tenant_id",
    "agent": "agent_id",
    "step": "step_name",
    "provider": "provider",
    "model": "model_id",
    "tier": "tier",
}


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))
    return ordered[rank]


_NONE_LABEL = "(none)"


def _label(key: str | None) -> str:
    """A group's name: a missing value (NULL in `llm_calls`, "" in the aggregates) is "(none)"."""
    return key if key else _NONE_LABEL


_RUN_ERROR = "error"
"""The `WorkflowRunRecord.status` of a run that failed."""
_RUN_TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "total_tokens")
_RUN_SUMMED = ("call_count", *_RUN_TOKENS, "cost_nusd", "premium_cost_nusd", "fallback_count")
"""Run columns summed alike in `workflow_runs` and `workflow_run_daily_aggregates`."""
_RUN_COST = _RUN_SUMMED.index("cost_nusd")
_RUN_FIGURES = (*_RUN_SUMMED, "runs", "errors", "max_cost_nusd", "ended_runs", "duration_ms_sum")


@dataclass(frozen=True, slots=True)
class _Filter:
    tenant: str | None
    since: dt.datetime | None


def _filter(tenant: str | None, since: dt.datetime | None) -> _Filter:
    """A tenant longer than its column is looked up as the store wrote it."""
    return _Filter(None if tenant is None else stored_identifier("tenant_id", tenant), since)


class TelemetryAnalytics:
    """Queries over `llm_calls`, `workflow_runs` and their daily aggregates."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- raw records -----------------------------------------------------------------------

    def calls(
        self, *, tenant: str | None = None, since: dt.datetime | None = None, limit: int = 100
    ) -> list[LLMCallRecord]:
        """Call attempts, newest first."""
        stmt = self._where(select(LLMCallRow), LLMCallRow, _filter(tenant, since))
        stmt = stmt.order_by(LLMCallRow.created_at.desc(), LLMCallRow.call_id, LLMCallRow.attempt_id).limit(limit)
        with self._engine.connect() as conn:
            return [row_to_call(r) for r in conn.execute(stmt)]

    def runs(
        self, *, tenant: str | None = None, since: dt.datetime | None = None, limit: int = 100
    ) -> list[WorkflowRunRecord]:
        """Workflow runs, newest first."""
        stmt = select(WorkflowRunRow)
        if tenant is not None:
            stmt = stmt.where(WorkflowRunRow.tenant_id == stored_identifier("tenant_id", tenant))
        if since is not None:
            stmt = stmt.where(WorkflowRunRow.started_at >= since)
        stmt = stmt.order_by(WorkflowRunRow.started_at.desc(), WorkflowRunRow.run_id).limit(limit)
        with self._engine.connect() as conn:
            return [row_to_run(r) for r in conn.execute(stmt)]

    # --- cost -------------------------------------------------------------------------------

    def cost_by(
        self, dimension: Dimension | str, *, tenant: str | None = None, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """Calls, tokens, cost, premium cost and savings grouped by one dimension, most expensive first.

        Raises:
            ValueError: an unknown dimension.
        """
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}; use one of {', '.join(DIMENSIONS)}")
        column = DIMENSIONS[dimension]
        totals: dict[str, dict[str, Any]] = defaultdict(
            lambda: {
                "calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_input_tokens": 0,
                "cache_write_tokens": 0,
                "cost_nusd": 0,
                "premium_cost_nusd": 0,
            }
        )
        flt = _filter(tenant, since)
        raw_key = getattr(LLMCallRow, column)
        raw = self._where(
            select(
                raw_key,
                func.count(),
                func.sum(LLMCallRow.input_tokens),
                func.sum(LLMCallRow.output_tokens),
                func.sum(LLMCallRow.cached_input_tokens),
                func.sum(LLMCallRow.cache_write_tokens),
                func.sum(LLMCallRow.cost_nusd),
                func.sum(LLMCallRow.premium_cost_nusd),
            ).where(LLMCallRow.status != CallStatus.SKIPPED),
            LLMCallRow,
            flt,
        ).group_by(raw_key)
        agg_key = getattr(TelemetryDailyAggregate, column)
        agg = self._where_agg(
            select(
                agg_key,
                func.sum(TelemetryDailyAggregate.calls),
                func.sum(TelemetryDailyAggregate.input_tokens),
                func.sum(TelemetryDailyAggregate.output_tokens),
                func.sum(TelemetryDailyAggregate.cached_input_tokens),
                func.sum(TelemetryDailyAggregate.cache_write_tokens),
                func.sum(TelemetryDailyAggregate.cost_nusd),
                func.sum(TelemetryDailyAggregate.premium_cost_nusd),
            ).where(TelemetryDailyAggregate.status != CallStatus.SKIPPED),
            flt,
        ).group_by(agg_key)
        with self._engine.connect() as conn:
            for stmt in (raw, agg):
                for key, calls, inp, out, cached, cache_write, cost, premium in conn.execute(stmt):
                    t = totals[_label(key)]
                    t["calls"] += int(calls or 0)
                    t["input_tokens"] += int(inp or 0)
                    t["output_tokens"] += int(out or 0)
                    t["cached_input_tokens"] += int(cached or 0)
                    t["cache_write_tokens"] += int(cache_write or 0)
                    t["cost_nusd"] += int(cost or 0)
                    t["premium_cost_nusd"] += int(premium or 0)
        rows = []
        for key, t in totals.items():
            cost, premium = from_nusd(t.pop("cost_nusd")), from_nusd(t.pop("premium_cost_nusd"))
            rows.append(
                {dimension: key, **t, "cost_usd": cost, "premium_cost_usd": premium, "savings_usd": premium - cost}
            )
        return sorted(rows, key=lambda r: (-r["cost_usd"], str(r[dimension])))

    def savings_vs_premium(self, *, tenant: str | None = None, since: dt.datetime | None = None) -> dict[str, Any]:
        """Actual cost, premium-tier cost of the same tokens, savings and savings percent."""
        rows = self.cost_by("tenant", tenant=tenant, since=since)
        cost = sum((r["cost_usd"] for r in rows), Decimal(0))
        premium = sum((r["premium_cost_usd"] for r in rows), Decimal(0))
        calls = sum(r["calls"] for r in rows)
        pct = float((premium - cost) / premium * 100) if premium else 0.0
        return {
            "calls": calls,
            "cost_usd": cost,
            "premium_cost_usd": premium,
            "savings_usd": premium - cost,
            "savings_percent": round(pct, 2),
        }

    def cost_over_time(
        self, *, by: Dimension = "tier", tenant: str | None = None, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """Cost per UTC day and per value of `by` (aggregated days included), oldest first."""
        column = DIMENSIONS[by]
        totals: dict[tuple[str, str], int] = defaultdict(int)
        flt = _filter(tenant, since)
        stmt = self._where(
            select(LLMCallRow.created_at, getattr(LLMCallRow, column), LLMCallRow.cost_nusd).where(
                LLMCallRow.status != CallStatus.SKIPPED
            ),
            LLMCallRow,
            flt,
        )
        agg = self._where_agg(
            select(
                TelemetryDailyAggregate.day, getattr(TelemetryDailyAggregate, column), TelemetryDailyAggregate.cost_nusd
            ).where(TelemetryDailyAggregate.status != CallStatus.SKIPPED),
            flt,
        )
        with self._engine.connect() as conn:
            for created, key, cost in conn.execute(stmt):
                totals[(created.astimezone(dt.UTC).date().isoformat(), _label(key))] += int(cost or 0)
            for day, key, cost in conn.execute(agg):
                totals[(day, _label(key))] += int(cost or 0)
        return [{"day": day, by: key, "cost_usd": from_nusd(cost)} for (day, key), cost in sorted(totals.items())]

    # --- behaviour --------------------------------------------------------------------------

    def provider_usage(self, *, tenant: str | None = None, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Per provider: attempts, errors, error rate, p50/p95 latency (ms), tokens, cost."""
        stmt = self._where(
            select(
                LLMCallRow.provider,
                LLMCallRow.status,
                LLMCallRow.latency_ms,
                LLMCallRow.input_tokens,
                LLMCallRow.output_tokens,
                LLMCallRow.cost_nusd,
            ).where(LLMCallRow.status != CallStatus.SKIPPED),
            LLMCallRow,
            _filter(tenant, since),
        )
        stats: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"calls": 0, "errors": 0, "latencies": [], "input_tokens": 0, "output_tokens": 0, "cost": 0}
        )
        with self._engine.connect() as conn:
            for provider, status, latency, inp, out, cost in conn.execute(stmt):
                s = stats[provider]
                s["calls"] += 1
                s["errors"] += status == CallStatus.ERROR
                s["latencies"].append(float(latency or 0.0))
                s["input_tokens"] += inp or 0
                s["output_tokens"] += out or 0
                s["cost"] += cost or 0
        rows = []
        for provider, s in sorted(stats.items()):
            rows.append(
                {
                    "provider": provider,
                    "calls": s["calls"],
                    "errors": s["errors"],
                    "error_rate": round(s["errors"] / s["calls"], 4) if s["calls"] else 0.0,
                    "p50_latency_ms": _percentile(s["latencies"], 50),
                    "p95_latency_ms": _percentile(s["latencies"], 95),
                    "input_tokens": s["input_tokens"],
                    "output_tokens": s["output_tokens"],
                    "cost_usd": from_nusd(s["cost"]),
                }
            )
        return rows

    def fallback_stats(self, *, tenant: str | None = None, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Per step: attempts (`calls`), answered calls, how many a fallback hop answered, the rate
        (`by_fallback / answered`) and the causes (why each answering fallback hop was reached)."""
        stmt = self._where(
            select(LLMCallRow.step_name, LLMCallRow.status, LLMCallRow.fallback_hop, LLMCallRow.fallback_cause),
            LLMCallRow,
            _filter(tenant, since),
        )
        steps: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"calls": 0, "answered": 0, "by_fallback": 0, "causes": Counter()}
        )
        with self._engine.connect() as conn:
            for step, status, hop, cause in conn.execute(stmt):
                s = steps[step]
                s["calls"] += 1
                if status == CallStatus.SUCCESS:
                    s["answered"] += 1
                    if hop:
                        s["by_fallback"] += 1
                        s["causes"][cause or "unknown"] += 1
        return [
            {
                "step": step,
                "calls": s["calls"],
                "answered": s["answered"],
                "by_fallback": s["by_fallback"],
                "fallback_rate": round(s["by_fallback"] / s["answered"], 4) if s["answered"] else 0.0,
                "causes": dict(s["causes"].most_common()),
            }
            for step, s in sorted(steps.items())
        ]

    def cost_by_workflow(self, *, tenant: str | None = None, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Per workflow, kept runs and purged (aggregated) ones alike, most expensive first.

        Each row: runs, errors (runs with status `error`), calls, tokens by kind, cost, premium cost,
        savings, average and largest cost of one run, fallbacks (calls answered by a fallback hop),
        and the average duration of the runs that ended (`None` if none has). `since` keeps runs
        started at or after it; aggregated days count when the day is on or after its date.
        """
        rows = []
        for name, t in self._workflow_totals(_filter(tenant, since)).items():
            cost, premium = from_nusd(t["cost_nusd"]), from_nusd(t["premium_cost_nusd"])
            rows.append(
                {
                    "workflow": name,
                    "runs": t["runs"],
                    "errors": t["errors"],
                    "calls": t["call_count"],
                    **{k: t[k] for k in _RUN_TOKENS},
                    "cost_usd": cost,
                    "premium_cost_usd": premium,
                    "savings_usd": premium - cost,
                    "avg_cost_usd": cost / t["runs"],
                    "max_cost_usd": from_nusd(t["max_cost_nusd"]),
                    "fallbacks": t["fallback_count"],
                    "avg_duration_ms": t["duration_ms_sum"] / t["ended_runs"] if t["ended_runs"] else None,
                }
            )
        return sorted(rows, key=lambda r: (-r["cost_usd"], r["workflow"]))

    def top_expensive_workflows(
        self, *, limit: int = 10, tenant: str | None = None, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """Workflows by total cost (purged runs included): runs, total / average / max cost, savings, fallbacks."""
        return [
            {
                "workflow": w["workflow"],
                "runs": w["runs"],
                "total_cost_usd": w["cost_usd"],
                "avg_cost_usd": w["avg_cost_usd"],
                "max_cost_usd": w["max_cost_usd"],
                "savings_usd": w["savings_usd"],
                "fallbacks": w["fallbacks"],
            }
            for w in self.cost_by_workflow(tenant=tenant, since=since)[:limit]
        ]

    def _workflow_totals(self, flt: _Filter) -> dict[str, dict[str, Any]]:
        """Sums per workflow name over the kept runs and the run daily aggregates."""
        totals: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(_RUN_FIGURES, 0))
        raw = select(
            WorkflowRunRow.workflow_name,
            WorkflowRunRow.status,
            WorkflowRunRow.started_at,
            WorkflowRunRow.ended_at,
            *(getattr(WorkflowRunRow, c) for c in _RUN_SUMMED),
        )
        if flt.tenant is not None:
            raw = raw.where(WorkflowRunRow.tenant_id == flt.tenant)
        if flt.since is not None:
            raw = raw.where(WorkflowRunRow.started_at >= flt.since)
        agg_table = WorkflowRunDailyAggregate
        agg = select(
            agg_table.workflow_name,
            agg_table.status,
            func.sum(agg_table.runs),
            func.sum(agg_table.ended_runs),
            func.sum(agg_table.duration_ms_sum),
            func.max(agg_table.max_cost_nusd),
            *(func.sum(getattr(agg_table, c)) for c in _RUN_SUMMED),
        )
        if flt.tenant is not None:
            agg = agg.where(agg_table.tenant_id == flt.tenant)
        if flt.since is not None:
            agg = agg.where(agg_table.day >= flt.since.astimezone(dt.UTC).date().isoformat())
        agg = agg.group_by(agg_table.workflow_name, agg_table.status)
        with self._engine.connect() as conn:
            for name, status, started, ended, *values in conn.execute(raw):
                t = totals[name]
                t["runs"] += 1
                t["errors"] += status == _RUN_ERROR
                for column, value in zip(_RUN_SUMMED, values, strict=True):
                    t[column] += int(value or 0)
                t["max_cost_nusd"] = max(t["max_cost_nusd"], int(values[_RUN_COST] or 0))
                if ended is not None:
                    t["ended_runs"] += 1
                    t["duration_ms_sum"] += (ended - started).total_seconds() * 1000
            for name, status, runs, ended_runs, duration, max_cost, *values in conn.execute(agg):
                t = totals[name]
                t["runs"] += int(runs or 0)
                t["errors"] += int(runs or 0) if status == _RUN_ERROR else 0
                for column, value in zip(_RUN_SUMMED, values, strict=True):
                    t[column] += int(value or 0)
                t["max_cost_nusd"] = max(t["max_cost_nusd"], int(max_cost or 0))
                t["ended_runs"] += int(ended_runs or 0)
                t["duration_ms_sum"] += float(duration or 0.0)
        return dict(totals)

    # --- filters ----------------------------------------------------------------------------

    @staticmethod
    def _where(stmt: Any, table: Any, flt: _Filter) -> Any:
        if flt.tenant is not None:
            stmt = stmt.where(table.tenant_id == flt.tenant)
        if flt.since is not None:
            stmt = stmt.where(table.created_at >= flt.since)
        return stmt

    @staticmethod
    def _where_agg(stmt: Any, flt: _Filter) -> Any:
        if flt.tenant is not None:
            stmt = stmt.where(TelemetryDailyAggregate.tenant_id == flt.tenant)
        if flt.since is not None:
            stmt = stmt.where(TelemetryDailyAggregate.day >= flt.since.astimezone(dt.UTC).date().isoformat())
        return stmt
