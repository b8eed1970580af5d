"""The shipped demo tools: order lookup, customer profile and refund request over the demo shop's
tenant-scoped tables (`focal.storage.DemoOrder`, `DemoCustomer`, `DemoRefund`).

Each tool is an async Agno tool (a bound method: the database is the instance's, the tenant is the
run's). Every query names the tenant from `run_context.session_state["tenant_id"]`, so another
tenant's order number is simply not found. Every call returns every declared output (`None` where
there is no value), so a value from an earlier lookup never lingers in the turn's variables.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import ClassVar

from agno.run import RunContext
from focal.tools.context import customer_of, tenant_of
from focal.tools.errors import ToolArgumentError, ToolError
from focal.tools.registry import ToolFunction, ToolOutput, tool_outputs
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from focal.storage import DemoCustomer, DemoOrder, DemoRefund, make_async_session_factory, utcnow

__all__ = ["DEFAULT_AUTO_APPROVE_LIMIT", "DemoTools"]

DEFAULT_AUTO_APPROVE_LIMIT = Decimal("50")
"""Refunds up to this amount (in the order's currency) are approved at once; larger ones go to review."""

_ORDER_FIELDS = (
    "order_status",
    "order_total",
    "order_currency",
    "order_items",
    "order_placed_at",
    "carrier",
    "tracking_number",
)
_REFUND_FIELDS = ("refund_id", "refund_status", "refund_reason")


class DemoTools:
    """The demo tools over one database (shared by every tenant: no tenant state is kept here).

    Args:
        engine: the async engine of a database migrated to Focal's schema.
        auto_approve_limit: the largest refund approved without review.
    """

    NAMES: ClassVar[tuple[str, ...]] = ("order_lookup", "customer_profile", "refund_request")

    def __init__(self, engine: AsyncEngine, *, auto_approve_limit: Decimal = DEFAULT_AUTO_APPROVE_LIMIT) -> None:
        self._sessions = make_async_session_factory(engine)
        self._auto_approve_cents = _to_cents(auto_approve_limit)

    def functions(self) -> list[ToolFunction]:
        """The three Agno tool functions, bound to this database."""
        return [getattr(self, name) for name in self.NAMES]

    @classmethod
    def definitions(cls) -> list[ToolFunction]:
        """The tool functions unbound (their specs need no database)."""
        return [getattr(cls, name) for name in cls.NAMES]

    @tool_outputs(*_ORDER_FIELDS)
    async def order_lookup(self, order_number: str, run_context: RunContext) -> ToolOutput:
        """Look up an order by its number: status, total, items, carrier and tracking number.

        Args:
            order_number: the order number, e.g. ORD-12345.
        """
        tenant = tenant_of(run_context, "order_lookup")
        number = _order_number("order_lookup", order_number)
        async with self._sessions() as session:
            order = await session.get(DemoOrder, (tenant, number))
        if order is None:
            return ToolOutput(dict.fromkeys(_ORDER_FIELDS), order_status="not_found")
        return ToolOutput(
            order_status=order.status,
            order_total=_amount(order.total_cents),
            order_currency=order.currency,
            order_items=[
                {
                    "sku": item["sku"],
                    "name": item["name"],
                    "quantity": item["quantity"],
                    "unit_price": _amount(item["unit_price_cents"]),
                }
                for item in order.items
            ],
            order_placed_at=order.placed_at.isoformat(),
            carrier=order.carrier,
            tracking_number=order.tracking_number,
        )

    @tool_outputs("customer_name", "customer_tier")
    async def customer_profile(self, run_context: RunContext) -> ToolOutput:
        """The current customer's profile: first name and loyalty tier (standard, silver, gold)."""
        tenant = tenant_of(run_context, "customer_profile")
        customer_id = customer_of(run_context, "customer_profile")
        async with self._sessions() as session:
            customer = await session.get(DemoCustomer, (tenant, customer_id))
        if customer is None:
            raise ToolError("customer_profile", f"no customer {customer_id!r} for this tenant")
        return ToolOutput(customer_name=customer.name.split()[0], customer_tier=customer.tier)

    @tool_outputs(*_REFUND_FIELDS)
    async def refund_request(self, order_number: str, amount: float, run_context: RunContext) -> ToolOutput:
        """Request a refund for an order; small refunds are approved at once, larger ones go to review.

        A second request for the same order returns the first one (nothing is refunded twice).

        Args:
            order_number: the order number, e.g. ORD-12345.
            amount: the amount to refund, in the order's currency.
        """
        tenant = tenant_of(run_context, "refund_request")
        number = _order_number("refund_request", order_number)
        cents = _amount_cents(amount)
        try:
            async with self._sessions() as session, session.begin():
                order = await session.get(DemoOrder, (tenant, number))
                if order is None:
                    return _refund(None, "rejected", f"there is no order {number}")
                existing = await _refund_of(session, tenant, number)
                if existing is not None:
                    return _repeated(existing)
                if order.status == "cancelled":
                    return _refund(None, "rejected", f"order {number} was cancelled: nothing was charged")
                if cents > order.total_cents:
                    total = _money(order.total_cents, order.currency)
                    return _refund(
                        None, "rejected", f"{_money(cents, order.currency)} is more than the order total {total}"
                    )
                refund = DemoRefund(
                    tenant_id=tenant,
                    refund_id=f"RF-{uuid.uuid4().hex[:10].upper()}",
                    order_number=number,
                    amount_cents=cents,
                    currency=order.currency,
                    status="approved" if cents <= self._auto_approve_cents else "pending_review",
                    requested_by=run_context.user_id,
                    requested_at=utcnow(),
                )
                session.add(refund)
        except IntegrityError:  # a concurrent request for the same order was first: that one stands
            async with self._sessions() as session:
                existing = await _refund_of(session, tenant, number)
            if existing is None:
                raise
            return _repeated(existing)
        if refund.status == "approved":
            return _refund(refund.refund_id, "approved", None)
        limit = _money(self._auto_approve_cents, refund.currency)
        return _refund(refund.refund_id, "pending_review", f"refunds above {limit} are reviewed by a colleague")


async def _refund_of(session: AsyncSession, tenant: str, number: str) -> DemoRefund | None:
    query = select(DemoRefund).where(DemoRefund.tenant_id == tenant, DemoRefund.order_number == number)
    result: DemoRefund | None = await session.scalar(query)
    return result


def _refund(refund_id: str | None, status: str, reason: str | None) -> ToolOutput:
    return ToolOutput(refund_id=refund_id, refund_status=status, refund_reason=reason)


def _repeated(refund: DemoRefund) -> ToolOutput:
    when = refund.requested_at.astimezone(dt.UTC).date().isoformat()
    reason = (
        f"a refund of {_money(refund.amount_cents, refund.currency)} for {refund.order_number} was already "
        f"requested on {when}; this is that refund"
    )
    return _refund(refund.refund_id, refund.status, reason)


def _order_number(tool_id: str, value: str) -> str:
    number = value.strip().upper()
    if not number or len(number) > 32:
        raise ToolArgumentError(tool_id, "order_number", f"argument 'order_number' is not an order number: {value!r}")
    return number


def _to_cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _amount_cents(amount: float) -> int:
    try:
        cents = _to_cents(Decimal(str(amount)))
    except (InvalidOperation, ValueError, OverflowError):
        cents = 0
    if cents <= 0:
        raise ToolArgumentError(
            "refund_request", "amount", f"argument 'amount' must be a positive amount, got {amount!r}"
        )
    return cents


def _amount(cents: int) -> float:
    return cents / 100


def _money(cents: int, currency: str) -> str:
    return f"{Decimal(cents) / 100:.2f} {currency}"
