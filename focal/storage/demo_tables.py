"""ORM tables of the demo shop behind the shipped demo tools: customers, orders and refunds per tenant.

Every row is keyed by `tenant_id` first, so no query can reach another tenant's row without naming that
tenant. Money is stored as integer cents (exact on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from focal.storage.tables import Base, UtcDateTime, utcnow

__all__ = ["DemoCustomer", "DemoOrder", "DemoRefund"]


class DemoCustomer(Base):
    """A tenant's customer; `customer_id` is the host's user id for them."""

    __tablename__ = "demo_customers"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_demo_customers_email"),)

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(256))
    tier: Mapped[str] = mapped_column(String(16))  # standard | silver | gold
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DemoOrder(Base):
    """A tenant's order. `items`: `[{sku, name, quantity, unit_price_cents}]`."""

    __tablename__ = "demo_orders"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["demo_customers.tenant_id", "demo_customers.customer_id"],
            name="fk_demo_orders_customer",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    order_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # processing | shipped | delivered | cancelled
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    carrier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DemoRefund(Base):
    """A refund requested for an order: at most one per (tenant, order), so a repeated request finds it."""

    __tablename__ = "demo_refunds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "order_number", name="uq_demo_refunds_order"),
        ForeignKeyConstraint(
            ["tenant_id", "order_number"],
            ["demo_orders.tenant_id", "demo_orders.order_number"],
            name="fk_demo_refunds_order",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_number: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # approved | pending_review
    requested_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
