"""Calls cancelled at any point (admitting, calling, streaming, settling) leak nothing, on SQLite and
PostgreSQL: no money stays reserved, budgets and call records agree on every cent, every attempt is
recorded, and no half-open breaker is left with its probe out."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from focal.execution import (
    AgnoExecutor,
    BreakerPolicy,
    BudgetManager,
    CircuitBreakers,
    ExecutionContext,
    FallbackPolicy,
    ResilientExecutor,
)
from focal.execution.testing import FakeModels
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository
from focal.storage import BudgetReservation, BudgetUsage, make_async_engine, make_sync_engine, upgrade
from focal.telemetry import LLMCallRecord


@pytest.fixture
async def rig(database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs) -> AsyncIterator[tuple]:
    upgrade(database_url)
    engine, sync_engine = make_async_engine(database_url), make_sync_engine(database_url)
    budgets = BudgetManager(engine, ttl_seconds=60)
    await budgets.set_budget("acme", "day", Decimal("1000"), on_limit="abort")
    resolver = ModelResolver(
        registry, catalogs, OverrideRepository(registry, catalogs, engine=sync_engine, async_engine=engine)
    )
    records: list[LLMCallRecord] = []
    # one failure opens the breaker and the cool-down is 0: every call is the half-open probe
    breakers = CircuitBreakers(BreakerPolicy(failure_threshold=1, cooldown_seconds=0.0))
    executor = ResilientExecutor(
        AgnoExecutor(registry, model_factory=FakeModels(default="an answer", usage=(100, 50), delay=0.002).factory),
        resolver,
        budgets=budgets,
        breakers=breakers,
        fallback=FallbackPolicy(enabled=False),
        recorder=records.append,
    )
    yield executor, engine, records
    await engine.dispose()
    sync_engine.dispose()


@pytest.mark.parametrize("mode", ["run", "stream"])
async def test_random_cancellations_leak_nothing(rig, mode: str) -> None:  # type: ignore[no-untyped-def]
    executor, engine, records = rig
    ctx = ExecutionContext(tenant_id="acme", agent_id="support", session_id="acme:s", step_name="generation")
    breaker = executor.breakers.get((await executor.plan(ctx)).hops[0].breaker_key)
    rng = random.Random(7)

    async def call() -> None:
        if mode == "stream":
            async for _ in executor.stream("hi there", ctx):
                pass
        else:
            await executor.run("hi there", ctx)

    outcomes = {"answered": 0, "cancelled": 0}
    for _ in range(60):
        breaker.record_failure()  # half-open again: this call holds the probe
        task = asyncio.ensure_future(call())
        await asyncio.sleep(rng.uniform(0, 0.03))  # cancel while admitting, calling, streaming or settling
        task.cancel()
        try:
            await task
            outcomes["answered"] += 1
        except asyncio.CancelledError:
            outcomes["cancelled"] += 1
        assert not breaker.probe_in_flight  # given back, whatever happened
    assert outcomes["answered"] and outcomes["cancelled"]
    await executor.drain()  # settles interrupted by a cancel finish in the background
    async with engine.connect() as conn:
        usage = (await conn.execute(select(BudgetUsage).where(BudgetUsage.tenant_id == "acme"))).one()
        live = (
            await conn.execute(
                select(func.count())
                .select_from(BudgetReservation)
                .where(BudgetReservation.tenant_id == "acme", BudgetReservation.reclaimed_at.is_(None))
            )
        ).scalar_one()
    assert (usage.reserved_nusd, live) == (0, 0)  # nothing stays held
    assert len(records) == 60  # every attempt recorded, cancelled ones included
    charged = sum((r.cost_usd for r in records), Decimal(0))
    assert usage.spent_nusd == int(charged * 10**9)  # budget and telemetry agree on every cent
    # an abandoned attempt's savings baseline prices the same worst case on the premium tier: never negative
    abandoned = [r for r in records if r.status == "error" and r.cost_usd > 0]
    assert abandoned and all(r.premium_cost_usd >= r.cost_usd for r in abandoned)
