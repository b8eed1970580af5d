"""The demo shop's data per tenant (`configs/demo/<tenant>.yaml`) and `seed_demo_data`, which writes it.

Seeding is idempotent and one transaction: customers and orders are upserted (a re-run restores their
seeded values), seeded refunds are added unless the order has one already (refunds made since are kept;
`reset=True` clears the tenant's demo rows first).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator
from sqlalchemy import Connection, Engine, Table, delete
from sqlalchemy.dialects import postgresql, sqlite

from focal import ConfigError, FocalSettings
from focal.storage import Base, DemoCustomer, DemoOrder, DemoRefund

__all__ = ["DemoTenantData", "SeededTenant", "demo_data_dir", "load_demo_data", "seed_demo_data"]

Money = Annotated[Decimal, Field(ge=0, decimal_places=2)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemoItem(_Strict):
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=256)]
    quantity: PositiveInt
    unit_price: Money


class DemoCustomerData(_Strict):
    customer_id: Name
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=256)]
    name: Annotated[str, Field(min_length=1, max_length=256)]
    tier: Literal["standard", "silver", "gold"]


class DemoOrderData(_Strict):
    order_number: Annotated[str, Field(pattern=r"^ORD-\d{5}$")]
    customer_id: Name
    status: Literal["processing", "shipped", "delivered", "cancelled"]
    placed_at: AwareDatetime
    items: Annotated[list[DemoItem], Field(min_length=1)]
    carrier: Annotated[str, Field(max_length=64)] | None = None
    tracking_number: Annotated[str, Field(max_length=64)] | None = None

    @property
    def total(self) -> Decimal:
        return sum((item.unit_price * item.quantity for item in self.items), Decimal(0))


class DemoRefundData(_Strict):
    refund_id: Annotated[str, Field(min_length=1, max_length=32)]
    order_number: str
    amount: Annotated[Decimal, Field(gt=0, decimal_places=2)]
    status: Literal["approved", "pending_review"]
    requested_at: AwareDatetime
    requested_by: Name | None = None


class DemoTenantData(_Strict):
    """One tenant's demo shop: its currency, customers, orders and refunds, each referring to the others."""

    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    customers: list[DemoCustomerData] = Field(default_factory=list)
    orders: list[DemoOrderData] = Field(default_factory=list)
    refunds: list[DemoRefundData] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> DemoTenantData:
        customers = _unique("customers", "customer_id", [c.customer_id for c in self.customers])
        _unique("customers", "email", [c.email for c in self.customers])
        orders = {o.order_number: o for o in self.orders}
        _unique("orders", "order_number", [o.order_number for o in self.orders])
        _unique("refunds", "refund_id", [r.refund_id for r in self.refunds])
        _unique("refunds", "order_number", [r.order_number for r in self.refunds])
        for order in self.orders:
            if order.customer_id not in customers:
                raise ValueError(f"order {order.order_number}: unknown customer {order.customer_id!r}")
        for refund in self.refunds:
            refunded = orders.get(refund.order_number)
            if refunded is None:
                raise ValueError(f"refund {refund.refund_id}: unknown order {refund.order_number!r}")
            if refund.amount > refunded.total:
                raise ValueError(f"refund {refund.refund_id}: {refund.amount} is more than the order total")
        return self


def _unique(section: str, key: str, values: list[str]) -> set[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{section}: {key} {value!r} appears twice")
        seen.add(value)
    return seen


@dataclass(frozen=True, slots=True, kw_only=True)
class SeededTenant:
    """What `seed_demo_data` wrote for one tenant (rows in its file)."""

    tenant_id: str
    customers: int
    orders: int
    refunds: int


def demo_data_dir() -> Path:
    """`<config dir>/demo` (FOCAL_CONFIG_DIR, else the shipped configs)."""
    return FocalSettings().resolved_config_dir / "demo"


def load_demo_data(source: Path | None = None) -> dict[str, DemoTenantData]:
    """Every tenant's demo data in `source` (default `demo_data_dir()`), by tenant (the file's stem).

    Raises:
        ConfigError: the folder is missing, or a file is not valid YAML or not valid demo data.
    """
    folder = source or demo_data_dir()
    if not folder.is_dir():
        raise ConfigError(f"no demo data folder {folder}")
    data: dict[str, DemoTenantData] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            data[path.stem] = DemoTenantData.model_validate(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", path=path) from exc
        except ValidationError as exc:
            raise ConfigError("; ".join(_problem(e) for e in exc.errors()), path=path) from exc
    return data


def _problem(error: Any) -> str:
    where = ".".join(map(str, error["loc"])) or "<root>"
    cause = error.get("ctx", {}).get("error") if error["type"] == "value_error" else None
    return f"{where}: {cause if cause is not None else error['msg']}"


def seed_demo_data(
    engine: Engine, tenants: Iterable[str] | None = None, *, source: Path | None = None, reset: bool = False
) -> list[SeededTenant]:
    """Write the demo data of `tenants` (default: every file in `source`) in one transaction.

    Args:
        engine: a database migrated to Focal's schema (`focal.storage.upgrade`).
        tenants: which tenants to seed; each needs a `<tenant>.yaml` in `source`.
        source: the demo data folder (default `demo_data_dir()`).
        reset: delete each seeded tenant's demo customers, orders and refunds first.

    Raises:
        ConfigError: a tenant without a file, or invalid demo data (nothing is written).
    """
    data = load_demo_data(source)
    wanted = sorted(data) if tenants is None else list(dict.fromkeys(tenants))
    missing = [tenant for tenant in wanted if tenant not in data]
    if missing:
        folder = source or demo_data_dir()
        have = ", ".join(sorted(data)) or "none"
        raise ConfigError(f"no demo data for tenant(s) {', '.join(missing)} in {folder} (have: {have})")
    with engine.begin() as conn:
        for tenant in wanted:
            _seed_tenant(conn, tenant, data[tenant], reset=reset)
    return [
        SeededTenant(
            tenant_id=tenant,
            customers=len(data[tenant].customers),
            orders=len(data[tenant].orders),
            refunds=len(data[tenant].refunds),
        )
        for tenant in wanted
    ]


_ORDER_COLUMNS = [
    "customer_id",
    "status",
    "items",
    "total_cents",
    "currency",
    "placed_at",
    "carrier",
    "tracking_number",
]


def _seed_tenant(conn: Connection, tenant: str, data: DemoTenantData, *, reset: bool) -> None:
    customers, orders, refunds = (_table(DemoCustomer), _table(DemoOrder), _table(DemoRefund))
    if reset:
        for table in (refunds, orders, customers):  # children first (foreign keys)
            conn.execute(delete(table).where(table.c.tenant_id == tenant))
    if data.customers:
        rows = [{"tenant_id": tenant, **c.model_dump()} for c in data.customers]
        conn.execute(_upsert(conn, customers, ["email", "name", "tier"]), rows)
    if data.orders:
        conn.execute(_upsert(conn, orders, _ORDER_COLUMNS), [_order_row(tenant, o, data.currency) for o in data.orders])
    if data.refunds:
        rows = [_refund_row(tenant, r, data.currency) for r in data.refunds]
        conn.execute(_insert(conn, refunds).on_conflict_do_nothing(), rows)  # a refund made since stays


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _insert(conn: Connection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _upsert(conn: Connection, table: Table, columns: list[str]) -> Any:
    """Insert, or on a primary-key conflict set `columns` to the new values (SQLite and PostgreSQL)."""
    statement = _insert(conn, table)
    keys = [column.name for column in table.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


def _order_row(tenant: str, order: DemoOrderData, currency: str) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "order_number": order.order_number,
        "customer_id": order.customer_id,
        "status": order.status,
        "items": [
            {"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price_cents": _cents(i.unit_price)}
            for i in order.items
        ],
        "total_cents": _cents(order.total),
        "currency": currency,
        "placed_at": order.placed_at,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
    }


def _refund_row(tenant: str, refund: DemoRefundData, currency: str) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "refund_id": refund.refund_id,
        "order_number": refund.order_number,
        "amount_cents": _cents(refund.amount),
        "currency": currency,
        "status": refund.status,
        "requested_by": refund.requested_by,
        "requested_at": refund.requested_at,
    }
