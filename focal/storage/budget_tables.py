"""ORM tables of tenant budgets: limits per period, spend + reservations per period, and the leases
behind those reservations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from focal.storage.tables import Base, UtcDateTime, utcnow

__all__ = ["NANO_USD", "BudgetReservation", "BudgetUsage", "TenantBudget"]

NANO_USD = 10**9
"""Money is stored as integer nano-dollars: exact on SQLite (which has no DECIMAL) and PostgreSQL."""


class TenantBudget(Base):
    """A tenant's spending limit for a period (`day` or `month`, UTC)."""

    __tablename__ = "tenant_budgets"
    __table_args__ = (UniqueConstraint("tenant_id", "period", name="uq_tenant_budgets_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(128), index=True)
    period: Mapped[str] = mapped_column(String(8))
    limit_nusd: Mapped[int] = mapped_column(BigInteger)
    on_limit: Mapped[str] = mapped_column(String(16), default="downgrade")  # abort | downgrade | warn
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(128), default="api")


class BudgetUsage(Base):
    """Settled spend and outstanding reservations of a tenant in one period instance."""

    __tablename__ = "budget_usage"
    __table_args__ = (UniqueConstraint("tenant_id", "period", "period_start", name="uq_budget_usage_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[str] = mapped_column(String(10))  # 2026-11-22 (day) or 2026-11 (month)
    spent_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class BudgetReservation(Base):
    """One call's hold on a tenant's budgets: a lease that is settled, or reclaimed once expired.

    It is inserted in the transaction that admits the call, so for every `budget_usage` row
    `reserved_nusd` equals the sum of `amount_nusd` over the live (`reclaimed_at IS NULL`) leases
    whose `day_start` / `month_start` name it. Settling deletes the row; reclaiming an expired lease
    releases its hold and keeps the row as a tombstone (`reclaimed_at` set), so a late settle still
    records the actual spend once and nothing is released twice.
    """

    __tablename__ = "budget_reservations"
    __table_args__ = (Index("ix_budget_reservations_tenant_expiry", "tenant_id", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    tenant_id: Mapped[str] = mapped_column(String(128))
    day_start: Mapped[str | None] = mapped_column(String(10))  # the `budget_usage` day it holds, if any
    month_start: Mapped[str | None] = mapped_column(String(10))  # the `budget_usage` month it holds, if any
    amount_nusd: Mapped[int] = mapped_column(BigInteger)  # held in each period named above
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    reclaimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
