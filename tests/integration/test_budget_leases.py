"""Budget reservations are leases on SQLite and PostgreSQL: a reservation that is never settled
(its process died, or its settle failed) is reclaimed once expired; settling is idempotent; and
reclaiming concurrently with reservations and settles never overspends nor releases twice."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.execution import (
    AgnoExecutor,
    BudgetExceededError,
    BudgetManager,
    ConfigurationError,
    ExecutionContext,
    FallbackPolicy,
    Reservation,
    ResilientExecutor,
)
from focal.execution.budgets import DEFAULT_LEASE_SECONDS
from focal.execution.testing import FakeModels
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository
from focal.storage import BudgetUsage, make_async_engine, make_sync_engine, upgrade
from focal.storage.budget_tables import BudgetReservation

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=DEFAULT_LEASE_SECONDS)
CENT = Decimal("0.01")


class FakeClock:
    """A settable UTC wall clock."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Env:
    budgets: BudgetManager
    engine: AsyncEngine
    clock: FakeClock


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    upgrade(database_url)
    engine = make_async_engine(database_url)
    clock = FakeClock()
    yield Env(BudgetManager(engine, ttl_seconds=60, wall_clock=clock), engine, clock)
    await engine.dispose()


async def leases(engine: AsyncEngine) -> list:  # type: ignore[type-arg]
    async with engine.connect() as conn:
        return list((await conn.execute(select(BudgetReservation).order_by(BudgetReservation.created_at))).all())


async def assert_reserved_is_the_live_leases(engine: AsyncEngine) -> None:
    """For every usage row, `reserved_nusd` is the sum of the live leases naming it."""
    async with engine.connect() as conn:
        usage = (await conn.execute(select(BudgetUsage))).all()
        for row in usage:
            column = BudgetReservation.day_start if row.period == "day" else BudgetReservation.month_start
            held = (
                await conn.execute(
                    select(func.coalesce(func.sum(BudgetReservation.amount_nusd), 0)).where(
                        BudgetReservation.tenant_id == row.tenant_id,
                        column == row.period_start,
                        BudgetReservation.reclaimed_at.is_(None),
                    )
                )
            ).scalar_one()
            assert row.reserved_nusd == held, (row.tenant_id, row.period, row.period_start)


async def usage(budgets: BudgetManager, tenant: str = "acme") -> dict[str, tuple[Decimal, Decimal]]:
    """(spent, reserved) per period."""
    return {s.period.value: (s.spent_usd, s.reserved_usd) for s in await budgets.status(tenant)}


def test_lease_length_must_be_a_positive_number() -> None:
    engine = make_async_engine("sqlite:///:memory:")
    for bad in (0, -5, float("nan"), float("inf"), True, "60"):
        with pytest.raises(ConfigurationError, match="lease_seconds"):
            BudgetManager(engine, lease_seconds=bad)  # type: ignore[arg-type]
    BudgetManager(engine, lease_seconds=0.5)


async def test_a_dead_processes_reservation_is_charged_at_expiry_and_a_late_settle_corrects_it(env: Env) -> None:
    budgets, clock = env.budgets, env.clock
    await budgets.set_budget("acme", "day", Decimal("0.10"), on_limit="abort")
    await budgets.set_budget("acme", "month", Decimal("5"), on_limit="abort")
    dead = await budgets.reserve("acme", Decimal("0.10"))  # the process dies: never settled
    assert dead is not None and dead.expires_at == T0 + LEASE
    assert dead.periods == (("day", "2026-11-22"), ("month", "2026-11"))
    (row,) = await leases(env.engine)
    assert (row.id, row.tenant_id, row.day_start, row.month_start) == (dead.id, "acme", "2026-11-22", "2026-11")
    assert (row.amount_nusd, row.created_at, row.expires_at, row.reclaimed_at) == (10**8, T0, T0 + LEASE, None)

    clock.now = T0 + LEASE - dt.timedelta(seconds=1)  # still leased: the tenant is refused
    with pytest.raises(BudgetExceededError) as info:
        await budgets.reserve("acme", CENT)
    assert info.value.scope == "day"
    assert await budgets.reclaim_expired() == 0
    assert await usage(budgets) == {"day": (0, Decimal("0.10")), "month": (0, Decimal("0.10"))}

    clock.now = T0 + LEASE  # expired: the refused reservation reclaims it, charging the hold (fail closed)
    with pytest.raises(BudgetExceededError):
        await budgets.reserve("acme", CENT)
    assert await usage(budgets) == {"day": (Decimal("0.10"), 0), "month": (Decimal("0.10"), 0)}
    (tombstone,) = await leases(env.engine)
    assert (tombstone.id, tombstone.reclaimed_at) == (dead.id, T0 + LEASE)
    await assert_reserved_is_the_live_leases(env.engine)

    # the "dead" call settles after all: its charge becomes its actual cost, once
    assert await budgets.settle(dead, Decimal("0.03")) is True
    assert await budgets.settle(dead, Decimal("0.03")) is False
    assert await usage(budgets) == {"day": (Decimal("0.03"), 0), "month": (Decimal("0.03"), 0)}
    assert await leases(env.engine) == []
    fresh = await budgets.reserve("acme", CENT)  # room again
    assert await budgets.settle(fresh, Decimal("0.002")) is True
    assert await usage(budgets) == {"day": (Decimal("0.032"), 0), "month": (Decimal("0.032"), 0)}
    assert await leases(env.engine) == []


async def test_reclaim_expired_by_tenant_or_all_and_tombstones_are_purged_after_a_day(env: Env) -> None:
    budgets, clock = env.budgets, env.clock
    for tenant in ("acme", "globex"):
        await budgets.set_budget(tenant, "day", Decimal("1"), on_limit="abort")
    await budgets.reserve("acme", CENT)
    await budgets.reserve("acme", CENT)
    await budgets.reserve("globex", CENT)
    clock.now = T0 + dt.timedelta(minutes=10)
    recent = await budgets.reserve("acme", CENT)  # not expired at T0 + lease
    clock.now = T0 + LEASE
    assert await budgets.reclaim_expired(tenant_id="acme") == 2
    assert await usage(budgets, "acme") == {"day": (2 * CENT, CENT)}  # charged, not released
    assert await usage(budgets, "globex") == {"day": (0, CENT)}
    assert await budgets.reclaim_expired("acme") == 0
    assert await budgets.reclaim_expired() == 1  # globex
    assert await budgets.reclaim_expired() == 0
    assert await usage(budgets, "globex") == {"day": (CENT, 0)}
    assert len(await leases(env.engine)) == 4  # 3 tombstones kept for late settles + the recent lease
    # an explicit `now` wins over the wall clock
    assert await budgets.reclaim_expired(now=T0 + dt.timedelta(minutes=10) + LEASE) == 1
    assert recent is not None and await budgets.settle(recent, 0) is True  # late: its charge becomes 0
    assert await usage(budgets, "acme") == {"day": (2 * CENT, 0)}
    clock.now = T0 + LEASE + dt.timedelta(days=1)
    assert await budgets.reclaim_expired() == 0  # purges the tombstones, reclaims nothing
    assert await leases(env.engine) == []
    await assert_reserved_is_the_live_leases(env.engine)


async def test_settle_is_idempotent_even_when_concurrent(env: Env) -> None:
    budgets = env.budgets
    await budgets.set_budget("acme", "day", Decimal("0.05"), on_limit="abort")
    assert await budgets.settle(None, Decimal(1)) is False
    reservation = await budgets.reserve("acme", Decimal("0.05"))
    results = await asyncio.gather(*(budgets.settle(reservation, Decimal("0.004")) for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    assert await usage(budgets) == {"day": (Decimal("0.004"), 0)}
    assert await leases(env.engine) == []
    # a forged or foreign reservation (no lease row) changes nothing either
    assert reservation is not None
    forged = Reservation("acme", Decimal("0.05"), reservation.periods, "0" * 32, T0)
    assert await budgets.settle(forged, Decimal("0.01")) is False
    assert await usage(budgets) == {"day": (Decimal("0.004"), 0)}


async def test_settles_racing_reclaims_count_each_call_exactly_once(env: Env) -> None:
    budgets, clock = env.budgets, env.clock
    await budgets.set_budget("acme", "day", Decimal("1"), on_limit="abort")
    reservations = [await budgets.reserve("acme", Decimal("0.02")) for _ in range(20)]
    clock.now = T0 + LEASE
    actual = Decimal("0.005")
    results = await asyncio.gather(
        *(budgets.settle(r, actual) for r in reservations),
        *(budgets.reclaim_expired() for _ in range(4)),
        *(budgets.reclaim_expired("acme") for _ in range(4)),
    )
    settled, reclaimed = results[:20], results[20:]
    assert all(settled)  # either live or a tombstone: every call's cost is recorded
    assert sum(reclaimed) <= 20
    assert await usage(budgets) == {"day": (actual * 20, 0)}
    assert await leases(env.engine) == []  # every settle deleted its lease, live or reclaimed
    assert await budgets.settle(reservations[0], actual) is False
    assert await usage(budgets) == {"day": (actual * 20, 0)}


async def test_concurrent_reservations_and_reclaims_never_overspend(env: Env) -> None:
    budgets, clock = env.budgets, env.clock
    await budgets.set_budget("acme", "day", Decimal("0.25"), on_limit="abort")
    await budgets.set_budget("acme", "month", Decimal("0.30"), on_limit="abort")
    dead = [await budgets.reserve("acme", CENT) for _ in range(20)]  # a crashed worker's holds
    clock.now = T0 + LEASE + dt.timedelta(seconds=1)
    results = await asyncio.gather(
        *(budgets.reserve("acme", CENT) for _ in range(100)),
        *(budgets.reclaim_expired() for _ in range(5)),
        return_exceptions=True,
    )
    reserved, reclaims = results[:100], results[100:]
    admitted = [r for r in reserved if isinstance(r, Reservation)]
    assert all(isinstance(r, Reservation | BudgetExceededError) for r in reserved)
    assert all(isinstance(n, int) for n in reclaims)
    assert len(admitted) <= 5  # the dead holds are charged (fail closed): 5 cents of the day are left
    dead_charge = CENT * 20
    assert await usage(budgets) == {
        "day": (dead_charge, CENT * len(admitted)),
        "month": (dead_charge, CENT * len(admitted)),
    }
    rows = {r.id: r for r in await leases(env.engine)}
    assert all(rows[d.id].reclaimed_at is not None for d in dead if d is not None)  # each dead hold charged...
    assert sum(1 for r in rows.values() if r.reclaimed_at is not None) == 20  # ...exactly once
    await assert_reserved_is_the_live_leases(env.engine)
    # what is left is usable: exactly 5 cents of leases fit in all
    top_up = 0
    while True:
        try:
            await budgets.reserve("acme", CENT)
        except BudgetExceededError:
            break
        top_up += 1
    assert len(admitted) + top_up == 5
    await asyncio.gather(*(budgets.settle(r, CENT) for r in admitted))
    assert (await usage(budgets))["day"] == (dead_charge + CENT * len(admitted), CENT * top_up)
    await assert_reserved_is_the_live_leases(env.engine)


async def test_a_settle_that_never_lands_is_charged_at_expiry(
    database_url: str,
    registry: ModelRegistry,
    catalogs: AgentCatalogs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the executor: a settle whose every retry the database refuses is charged in full when
    its lease expires (the call was billed: budgets fail closed)."""
    upgrade(database_url)
    sync_engine, engine = make_sync_engine(database_url), make_async_engine(database_url)
    clock = FakeClock()
    budgets = BudgetManager(engine, ttl_seconds=60, wall_clock=clock)
    resolver = ModelResolver(
        registry, catalogs, OverrideRepository(registry, catalogs, engine=sync_engine, async_engine=engine)
    )
    executor = ResilientExecutor(
        AgnoExecutor(registry, model_factory=FakeModels(default="ok", usage=(100, 50)).factory),
        resolver,
        budgets=budgets,
        fallback=FallbackPolicy(enabled=False),
    )
    ctx = ExecutionContext(tenant_id="acme", agent_id="support", session_id="acme:s", step_name="generation")
    monkeypatch.setattr("focal.execution._limits._SETTLE_RETRY_DELAYS", (0.0, 0.0))
    try:
        await budgets.set_budget("acme", "day", Decimal("0.02"), on_limit="abort")  # one call's estimate fits

        async def broken_settle(reservation: Reservation | None, actual: Decimal) -> bool:
            raise OSError("connection reset")

        monkeypatch.setattr(budgets, "settle", broken_settle)
        response = await executor.run("hello", ctx)  # the answer is kept whatever the bookkeeping does
        await executor.drain()  # every retry failed
        ((spent, held),) = (await usage(budgets)).values()
        assert spent == 0 and held > response.cost  # every retry failed: still held
        with pytest.raises(BudgetExceededError):
            await executor.run("hello", ctx)
        clock.now = T0 + LEASE
        with pytest.raises(BudgetExceededError):  # reclaimed inside reserve(): charged, so still refused
            await executor.run("hello", ctx)
        assert await usage(budgets) == {"day": (held, 0)}
        await assert_reserved_is_the_live_leases(engine)
    finally:
        await engine.dispose()
        sync_engine.dispose()
