"""Budgets: tenant limits per day / month in SQL with atomic pre-call reservations, and cost limits.

A call first *reserves* its estimated cost (prompt tokens + max output tokens, priced from the
registry) with one conditional UPDATE per period — `spent + reserved + estimate <= limit` — in a
single transaction, so concurrent calls can never admit more than the budget on SQLite or
PostgreSQL. After the call the reservation is *settled* with the actual cost (or released).

Every reservation is a *lease*: the transaction that admits it also inserts its
`budget_reservations` row, with the periods it holds, the amount and an expiry (`lease_seconds`,
15 minutes by default, far above any call). Settling deletes that row and moves the amount from
reserved to spent in one transaction; only the transaction that deletes a live row touches
`reserved_nusd`, so settling twice changes nothing. A reservation whose process died (or whose
settle failed) is *reclaimed* once expired: its call may have been sent and billed, so its hold is
charged as spent (budgets fail closed: a lost settle never hands money back) and its row is kept a
day as a tombstone, so a settle that still arrives replaces that charge with the actual cost, once.
Reclaiming happens inside `reserve()` for the tenant when a call is refused, and on demand with
`reclaim_expired()` / `focal budgets reclaim`.

So for every `budget_usage` row, `reserved_nusd` is the sum of the live leases holding it. Rows are
locked in one order everywhere (the lease, then the day, then the month), so PostgreSQL transactions
cannot deadlock on them.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from focal.errors import ConfigError
from focal.execution._estimates import estimate_call_cost, estimate_prompt_tokens, estimate_text_tokens
from focal.execution.errors import BudgetExceededError, ConfigurationError
from focal.routing import check_tenant_id
from focal.storage.budget_tables import NANO_USD, BudgetReservation, BudgetUsage, TenantBudget
from focal.storage.tables import utcnow

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "BudgetManager",
    "BudgetPeriod",
    "CostLimits",
    "LimitAction",
    "Reservation",
    "TenantBudgetInfo",
    "check_limit_usd",
    "estimate_call_cost",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
]


class BudgetPeriod(StrEnum):
    DAY = "day"
    MONTH = "month"


class LimitAction(StrEnum):
    """What happens when a limit would be crossed."""

    ABORT = "abort"
    DOWNGRADE = "downgrade"  # try a cheaper tier that fits, then refuse
    WARN = "warn"  # log and go on


@dataclass(frozen=True, slots=True, kw_only=True)
class CostLimits:
    """Limits within a run (one turn) and per step call; None means no limit.

    Attributes:
        per_run_usd: the most a run (all calls of one tenant sharing `ctx.run_id`) may spend.
        per_step_usd: the most a single step call may cost, for steps without their own limit.
        steps: limits by step name (e.g. `{"generation": Decimal("0.05")}`), over `per_step_usd`.
        on_limit: abort, downgrade to a cheaper tier, or warn.

    A call is admitted against its worst case (prompt + output cap) before it is sent; its actual
    cost is checked again after, and one over its step limit is logged (`step_cost_over_limit`).
    """

    per_run_usd: Decimal | None = None
    per_step_usd: Decimal | None = None
    steps: Mapping[str, Decimal] = field(default_factory=dict)
    on_limit: LimitAction = LimitAction.ABORT

    def step_limit(self, step: str | None) -> Decimal | None:
        """The limit for one call of `step`."""
        return self.steps.get(step, self.per_step_usd) if step is not None else self.per_step_usd


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantBudgetInfo:
    """A tenant's budget for one period and where it stands."""

    tenant_id: str
    period: BudgetPeriod
    limit_usd: Decimal
    on_limit: LimitAction
    spent_usd: Decimal = Decimal(0)
    reserved_usd: Decimal = Decimal(0)

    @property
    def remaining_usd(self) -> Decimal:
        return self.limit_usd - self.spent_usd - self.reserved_usd


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money held for one call until it is settled, or reclaimed once its lease has expired.

    Attributes:
        tenant_id: whose budgets hold it.
        amount: what is held in each period (whole nano-dollars, rounded up).
        periods: the `(period, period_start)` usage rows holding it, e.g. `("day", "2026-11-22")`.
        id: its `budget_reservations` row.
        expires_at: from then on it may be reclaimed (UTC).
    """

    tenant_id: str
    amount: Decimal
    periods: tuple[tuple[str, str], ...]  # (period, period_start)
    id: str
    expires_at: dt.datetime


# Limits are stored as signed 64-bit integers of nano-dollars (SQLite INTEGER, PostgreSQL BIGINT).
MAX_LIMIT_NUSD = 2**63 - 1
MAX_LIMIT_USD = Decimal(MAX_LIMIT_NUSD).scaleb(-9)  # $9,223,372,036.854775807, exact
MIN_LIMIT_USD = Decimal(1).scaleb(-9)  # one nano-dollar


def check_limit_usd(value: Decimal | str | float | int) -> Decimal:
    """A budget limit as a Decimal, or a one-line `ConfigurationError` naming the value.

    A limit is 0 (no paid call fits: only free models run) or between one nano-dollar and
    `MAX_LIMIT_USD`; finer digits than a nano-dollar are dropped (rounded down) when stored.

    Raises:
        ConfigurationError: not a number, not finite, negative, non-zero but below one
            nano-dollar (it would be stored as 0), or above what 64-bit nano-dollars hold.
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"budget limit {value!r} is not a number")
    try:
        limit = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ConfigurationError(f"budget limit {value!r} is not a number") from None
    if not limit.is_finite():
        raise ConfigurationError(f"budget limit {value!r} must be a finite amount of USD")
    if limit < 0:
        raise ConfigurationError(f"budget limit {value!r} must not be negative")
    if 0 < limit < MIN_LIMIT_USD:
        raise ConfigurationError(
            f"budget limit {value!r} is below one nano-dollar ($0.000000001) and would be stored as 0; "
            "use 0 to allow no paid calls"
        )
    if limit > MAX_LIMIT_USD:
        raise ConfigurationError(f"budget limit {value!r} is above the largest budget (${MAX_LIMIT_USD})")
    return limit


def to_nano(amount: Decimal, *, round_up: bool = False) -> int:
    """Dollars → integer nano-dollars (reservations round up so they never under-hold)."""
    scaled = amount * NANO_USD
    whole = int(scaled)
    return whole + 1 if round_up and scaled > whole else whole


def from_nano(value: int | None) -> Decimal:
    """Integer nano-dollars → dollars."""
    return Decimal(value or 0) / NANO_USD


def _period_start(period: BudgetPeriod, now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%d") if period is BudgetPeriod.DAY else now.strftime("%Y-%m")


DEFAULT_LEASE_SECONDS = 15 * 60
"""How long a reservation holds its money unless settled: far above the longest call."""

_TOMBSTONE_RETENTION = dt.timedelta(days=1)  # how long a reclaimed lease waits for a late settle

# The lease column naming the usage row of each period.
_START_COLUMN = {BudgetPeriod.DAY.value: "day_start", BudgetPeriod.MONTH.value: "month_start"}


class BudgetManager:
    """Tenant budgets over an async engine. Tenants without a budget cost no database round trip
    once their (empty) budget list is cached (`ttl_seconds`).

    Args:
        engine: the database holding the budget tables.
        ttl_seconds: how long a tenant's budget list is cached.
        lease_seconds: how long a reservation holds its money unless settled; after that it may be
            reclaimed (charged in full). Keep it well above the longest call: a call still running
            when its lease is reclaimed has that charge corrected to its actual cost when it settles.
        clock: monotonic seconds for the cache.
        wall_clock: the current UTC time, for periods and leases (tests inject a fake one).

    Raises:
        ConfigurationError: `lease_seconds` is not a positive finite number.
    """

    def __init__(  # type: ignore[no-untyped-def]
        self,
        engine: AsyncEngine,
        *,
        ttl_seconds: float = 5.0,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock=time.monotonic,
        wall_clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if isinstance(lease_seconds, bool) or not (
            isinstance(lease_seconds, int | float) and math.isfinite(lease_seconds) and lease_seconds > 0
        ):
            raise ConfigurationError(f"lease_seconds {lease_seconds!r} must be a positive number of seconds")
        self._engine = engine
        self._ttl = ttl_seconds
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._clock = clock
        self._now = wall_clock
        self._cache: dict[str, tuple[float, tuple[TenantBudgetInfo, ...]]] = {}

    def _insert(self):  # type: ignore[no-untyped-def]
        return pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert

    # --- configuration --------------------------------------------------------------------

    async def set_budget(
        self,
        tenant_id: str,
        period: BudgetPeriod | str,
        limit_usd: Decimal | str | float,
        *,
        on_limit: LimitAction | str = LimitAction.DOWNGRADE,
        changed_by: str = "api",
    ) -> None:
        """Create or change a tenant's limit for a period.

        Raises:
            ConfigurationError: unknown period or action, or a limit that is not a number, not
                finite, negative, non-zero but below one nano-dollar, or too large (see
                `check_limit_usd`); nothing is written then.
        """
        try:
            check_tenant_id(tenant_id)
        except ConfigError as exc:
            raise ConfigurationError(str(exc)) from None
        try:
            period, action = BudgetPeriod(period), LimitAction(on_limit)
        except ValueError as exc:
            raise ConfigurationError(f"invalid budget: {exc}") from None
        try:
            limit = check_limit_usd(limit_usd)
        except ConfigurationError as exc:
            raise ConfigurationError(f"tenant {tenant_id!r}: {exc}") from None
        stmt = self._insert()(TenantBudget).values(
            tenant_id=tenant_id,
            period=period.value,
            limit_nusd=to_nano(limit),
            on_limit=action.value,
            updated_at=utcnow(),
            changed_by=changed_by,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "period"],
            set_={
                "limit_nusd": to_nano(limit),
                "on_limit": action.value,
                "updated_at": utcnow(),
                "changed_by": changed_by,
            },
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)
        self._cache.pop(tenant_id, None)

    async def remove_budget(self, tenant_id: str, period: BudgetPeriod | str) -> bool:
        """Delete a tenant's limit for a period; False if there was none."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(TenantBudget).where(
                    TenantBudget.tenant_id == tenant_id, TenantBudget.period == BudgetPeriod(period).value
                )
            )
        self._cache.pop(tenant_id, None)
        return bool(result.rowcount)

    async def budgets(self, tenant_id: str, *, fresh: bool = False) -> tuple[TenantBudgetInfo, ...]:
        """The tenant's limits (cached for `ttl_seconds`), without usage."""
        hit = self._cache.get(tenant_id)
        if hit is not None and not fresh and hit[0] > self._clock():
            return hit[1]
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(TenantBudget).where(TenantBudget.tenant_id == tenant_id))).all()
        infos = tuple(
            TenantBudgetInfo(
                tenant_id=tenant_id,
                period=BudgetPeriod(r.period),
                limit_usd=from_nano(r.limit_nusd),
                on_limit=LimitAction(r.on_limit),
            )
            for r in rows
        )
        self._cache[tenant_id] = (self._clock() + self._ttl, infos)
        return infos

    async def status(
        self, tenant_id: str, now: dt.datetime | None = None, *, fresh: bool = True
    ) -> list[TenantBudgetInfo]:
        """Limits with the current period's spend and reservations.

        Args:
            fresh: read the limits from the database; False: the cached ones (`ttl_seconds`) will do.
                The spend is always read (when the tenant has a limit).
        """
        now = now or self._now()
        out: list[TenantBudgetInfo] = []
        # the limits are read before a connection is held: one turn never needs two connections at
        # once (with many concurrent turns, a held connection waiting for a second one exhausts the pool)
        infos = await self.budgets(tenant_id, fresh=fresh)
        if not infos:
            return out
        async with self._engine.connect() as conn:
            for info in infos:
                row = (
                    await conn.execute(
                        select(BudgetUsage).where(
                            BudgetUsage.tenant_id == tenant_id,
                            BudgetUsage.period == info.period.value,
                            BudgetUsage.period_start == _period_start(info.period, now),
                        )
                    )
                ).first()
                spent = from_nano(row.spent_nusd) if row else Decimal(0)
                reserved = from_nano(row.reserved_nusd) if row else Decimal(0)
                out.append(
                    TenantBudgetInfo(
                        tenant_id=tenant_id,
                        period=info.period,
                        limit_usd=info.limit_usd,
                        on_limit=info.on_limit,
                        spent_usd=spent,
                        reserved_usd=reserved,
                    )
                )
        return out

    # --- reservations ---------------------------------------------------------------------

    async def reserve(
        self,
        tenant_id: str,
        amount: Decimal,
        now: dt.datetime | None = None,
        *,
        force: bool | Collection[str] = False,
    ) -> Reservation | None:
        """Atomically hold `amount` against every budget of the tenant, as a lease.

        When a period refuses it, the tenant's expired leases are reclaimed (charged) first, so its
        usage rows show what is really spent; that frees nothing, so the refusal stands.

        Args:
            tenant_id: whose budgets to hold it against.
            amount: the most the call may cost.
            now: the time choosing the periods and starting the lease (default: the wall clock).
            force: hold it even past the limits (True: every period's; a collection: those periods',
                e.g. `{"day"}` for a `warn` day budget: the call goes on and is still charged).

        Returns:
            The reservation, or None when the tenant has no budget.

        Raises:
            BudgetExceededError: a period's `spent + reserved + amount` would pass its limit;
                nothing is held then.
        """
        budgets = await self.budgets(tenant_id)
        if not budgets:
            return None
        now = now or self._now()
        forced = frozenset(b.period.value for b in budgets) if force is True else frozenset(force or ())
        try:
            return await self._admit(tenant_id, budgets, amount, now, forced)
        except BudgetExceededError:
            await self._reclaim(tenant_id, now)
            raise

    async def _admit(
        self,
        tenant_id: str,
        budgets: Sequence[TenantBudgetInfo],
        amount: Decimal,
        now: dt.datetime,
        forced: frozenset[str] = frozenset(),
    ) -> Reservation:
        budgets = sorted(budgets, key=lambda b: b.period.value)  # day, then month: one lock order
        periods = tuple((b.period.value, _period_start(b.period, now)) for b in budgets)
        held = to_nano(amount, round_up=True)
        lease = Reservation(tenant_id, from_nano(held), periods, uuid.uuid4().hex, now + self._lease)
        async with self._engine.begin() as conn:
            for budget, (period, start) in zip(budgets, periods, strict=True):
                await self._ensure_row(conn, tenant_id, period, start)
                where = [
                    BudgetUsage.tenant_id == tenant_id,
                    BudgetUsage.period == period,
                    BudgetUsage.period_start == start,
                ]
                if period not in forced:  # the admission: one conditional UPDATE, atomic on SQLite and PostgreSQL
                    where.append(BudgetUsage.spent_nusd + BudgetUsage.reserved_nusd + held <= to_nano(budget.limit_usd))
                result = await conn.execute(
                    update(BudgetUsage)
                    .where(*where)
                    .values(reserved_nusd=BudgetUsage.reserved_nusd + held, updated_at=utcnow())
                )
                if result.rowcount != 1:
                    row = (
                        await conn.execute(
                            select(BudgetUsage.spent_nusd, BudgetUsage.reserved_nusd).where(
                                BudgetUsage.tenant_id == tenant_id,
                                BudgetUsage.period == period,
                                BudgetUsage.period_start == start,
                            )
                        )
                    ).one()
                    await conn.rollback()
                    spent = from_nano(row.spent_nusd + row.reserved_nusd)
                    raise BudgetExceededError(
                        f"tenant {tenant_id!r} {period} budget ${budget.limit_usd} would be exceeded: "
                        f"${spent:.6f} spent or held, this call may cost up to ${amount:.6f}",
                        tenant_id=tenant_id,
                        scope=period,
                        limit_usd=budget.limit_usd,
                        spent_usd=spent,
                        estimate_usd=amount,
                    )
            starts = dict(periods)
            await conn.execute(
                insert(BudgetReservation).values(
                    id=lease.id,
                    tenant_id=tenant_id,
                    day_start=starts.get(BudgetPeriod.DAY.value),
                    month_start=starts.get(BudgetPeriod.MONTH.value),
                    amount_nusd=held,
                    created_at=now,
                    expires_at=lease.expires_at,
                    reclaimed_at=None,
                )
            )
        return lease

    async def settle(self, reservation: Reservation | None, actual: Decimal) -> bool:
        """Replace the held amount with the actual cost (0 releases it), once.

        Deleting the lease row and adjusting the periods is one transaction, and only the
        transaction that deletes the row adjusts them: settling again changes nothing. A
        reservation already reclaimed (its lease expired, and the reclaim charged its whole hold)
        has its charge corrected to the actual cost, once, within a day of its expiry.

        Args:
            reservation: what `reserve` returned (None: nothing to do).
            actual: what the call cost.

        Returns:
            Whether this call recorded it (False: no reservation, or already settled).
        """
        if reservation is None:
            return False
        async with self._engine.begin() as conn:
            live = await conn.execute(
                delete(BudgetReservation).where(
                    BudgetReservation.id == reservation.id, BudgetReservation.reclaimed_at.is_(None)
                )
            )
            if live.rowcount == 1:
                release, charged = to_nano(reservation.amount), 0
            else:
                charged = (
                    await conn.execute(
                        select(BudgetReservation.amount_nusd).where(BudgetReservation.id == reservation.id)
                    )
                ).scalar_one_or_none()
                reclaimed = await conn.execute(delete(BudgetReservation).where(BudgetReservation.id == reservation.id))
                if charged is None or reclaimed.rowcount != 1:
                    return False  # settled before (or reclaimed more than a day ago: its charge stands)
                release = 0  # the reclaim moved the hold to spent: replace that charge with the actual cost
            for period, start in reservation.periods:
                await conn.execute(
                    update(BudgetUsage)
                    .where(
                        BudgetUsage.tenant_id == reservation.tenant_id,
                        BudgetUsage.period == period,
                        BudgetUsage.period_start == start,
                    )
                    .values(
                        reserved_nusd=BudgetUsage.reserved_nusd - release,
                        spent_nusd=BudgetUsage.spent_nusd + to_nano(actual, round_up=True) - charged,
                        updated_at=utcnow(),
                    )
                )
        return True

    async def reclaim_expired(self, tenant_id: str | None = None, *, now: dt.datetime | None = None) -> int:
        """Charge the holds of expired reservations (their calls died or failed to settle) as spent.

        A call whose settle never came may have been sent and billed, so its hold is charged, never
        released for free: budgets fail closed. A late settle (within a day) corrects the charge to
        the actual cost. Each lease is reclaimed in its own transaction, only by the transaction that
        marks it, so concurrent reclaims, settles and reservations never count a hold twice.
        Reclaimed leases stay a day for late settles, then are deleted here.

        Args:
            tenant_id: only this tenant's (default: every tenant's).
            now: the time to compare expiries with (default: the wall clock).

        Returns:
            How many reservations this call reclaimed.
        """
        return await self._reclaim(tenant_id, now or self._now())

    async def _reclaim(self, tenant_id: str | None, now: dt.datetime) -> int:
        """Leases this call reclaimed; tombstones past retention go."""
        lease = BudgetReservation
        query = select(
            lease.id, lease.tenant_id, lease.day_start, lease.month_start, lease.amount_nusd, lease.reclaimed_at
        ).where(
            lease.expires_at <= now,
            or_(lease.reclaimed_at.is_(None), lease.expires_at <= now - _TOMBSTONE_RETENTION),
        )
        if tenant_id is not None:
            query = query.where(lease.tenant_id == tenant_id)
        async with self._engine.connect() as conn:
            candidates = (await conn.execute(query.order_by(lease.expires_at))).all()
        reclaimed = 0
        for row in candidates:
            async with self._engine.begin() as conn:
                marked = await conn.execute(
                    update(lease)
                    .where(lease.id == row.id, lease.reclaimed_at.is_(None), lease.expires_at <= now)
                    .values(reclaimed_at=now)
                )
                if marked.rowcount != 1:  # a tombstone past its retention, or settled / reclaimed meanwhile
                    await conn.execute(
                        delete(lease).where(
                            lease.id == row.id,
                            lease.reclaimed_at.is_not(None),
                            lease.expires_at <= now - _TOMBSTONE_RETENTION,
                        )
                    )
                    continue
                for period in sorted(_START_COLUMN):
                    start = getattr(row, _START_COLUMN[period])
                    if start is None:
                        continue
                    await conn.execute(
                        update(BudgetUsage)
                        .where(
                            BudgetUsage.tenant_id == row.tenant_id,
                            BudgetUsage.period == period,
                            BudgetUsage.period_start == start,
                        )
                        .values(
                            reserved_nusd=BudgetUsage.reserved_nusd - row.amount_nusd,
                            spent_nusd=BudgetUsage.spent_nusd + row.amount_nusd,
                            updated_at=utcnow(),
                        )
                    )
                reclaimed += 1
        return reclaimed

    async def _ensure_row(self, conn: AsyncConnection, tenant_id: str, period: str, start: str) -> None:
        stmt = (
            self._insert()(BudgetUsage)
            .values(
                tenant_id=tenant_id,
                period=period,
                period_start=start,
                spent_nusd=0,
                reserved_nusd=0,
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "period", "period_start"])
        )
        await conn.execute(stmt)
