"""Seeding the demo data on SQLite and PostgreSQL: idempotent, one transaction, tenants apart; the
shipped files are valid."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from focal.tools import SeededTenant, load_demo_data, seed_demo_data
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from focal import ConfigError
from focal.storage import DemoCustomer, DemoOrder, DemoRefund

SHIPPED = Path(__file__).resolve().parents[3] / "configs" / "demo"


def counts(engine: Engine, tenant: str) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t).where(t.c.tenant_id == tenant)).scalar_one()
            for t in (DemoCustomer.__table__, DemoOrder.__table__, DemoRefund.__table__)
        )


def test_the_shipped_demo_data_is_valid_and_has_two_tenants() -> None:
    data = load_demo_data(SHIPPED)
    assert sorted(data) == ["acme", "globex"]
    shared = {o.order_number for o in data["acme"].orders} & {o.order_number for o in data["globex"].orders}
    assert shared == {"ORD-12345"}  # one order number both tenants use: isolation is visible


def test_seeding_twice_is_a_no_op_and_restores_seeded_values(engine: Engine) -> None:
    first = seed_demo_data(engine)
    assert first == [
        SeededTenant(tenant_id="acme", customers=2, orders=4, refunds=1),
        SeededTenant(tenant_id="globex", customers=2, orders=3, refunds=0),
    ]
    assert (counts(engine, "acme"), counts(engine, "globex")) == ((2, 4, 1), (2, 3, 0))
    with engine.begin() as conn:
        conn.execute(
            update(DemoOrder)
            .where(DemoOrder.tenant_id == "acme", DemoOrder.order_number == "ORD-12345")
            .values(status="lost")
        )
        conn.execute(  # a refund made since seeding (by the refund tool) is kept
            insert(DemoRefund).values(
                tenant_id="acme",
                refund_id="RF-LATER",
                order_number="ORD-12345",
                amount_cents=100,
                currency="USD",
                status="approved",
                requested_at=dt.datetime.now(dt.UTC),
            )
        )
    assert seed_demo_data(engine, ["acme", "acme"]) == first[:1]
    with engine.connect() as conn:
        status = conn.execute(
            select(DemoOrder.status).where(DemoOrder.tenant_id == "acme", DemoOrder.order_number == "ORD-12345")
        ).scalar_one()
    assert status == "shipped"
    assert counts(engine, "acme") == (2, 4, 2)
    seed_demo_data(engine, ["acme"], reset=True)  # reset: the tenant's demo rows as seeded, nothing else
    assert counts(engine, "acme") == (2, 4, 1) and counts(engine, "globex") == (2, 3, 0)


def test_one_tenant_only(engine: Engine) -> None:
    assert [s.tenant_id for s in seed_demo_data(engine, tenants=["globex"])] == ["globex"]
    assert counts(engine, "acme") == (0, 0, 0) and counts(engine, "globex") == (2, 3, 0)


def test_an_unknown_tenant_writes_nothing(engine: Engine) -> None:
    with pytest.raises(ConfigError, match=r"no demo data for tenant\(s\) initech in .* \(have: acme, globex\)"):
        seed_demo_data(engine, ["acme", "initech"])
    assert counts(engine, "acme") == (0, 0, 0)


def test_a_failure_part_way_rolls_everything_back(engine: Engine) -> None:
    with engine.begin() as conn:  # globex already has another customer with a seeded email
        conn.execute(
            text(
                "INSERT INTO demo_customers (tenant_id, customer_id, email, name, tier, created_at)"
                " VALUES ('globex', 'u-1', 'frank.grimes@example.com', 'Frank', 'gold', '2026-12-01 00:00:00')"
            )
        )
    with pytest.raises(IntegrityError):
        seed_demo_data(engine)
    assert counts(engine, "acme") == (0, 0, 0)  # acme, seeded first, was rolled back with globex
    assert counts(engine, "globex") == (1, 0, 0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("ORD-10002", "ORD-1002"), r"orders\.2\.order_number: String should match pattern"),
        (
            ("customer_id: u-7\n    status: processing", "customer_id: u-8\n    status: processing"),
            "unknown customer 'u-8'",
        ),
        (("amount: 12.50", "amount: 13.00"), r"<root>: refund RF-ACME000001: 13\.0 is more than the order total"),
        (("unit_price: 64.00", "unit_price: 64.001"), "unit_price: Decimal input should have no more than 2 decimal"),
        (("tier: gold", "tier: platinum"), "customers.0.tier: Input should be 'standard', 'silver' or 'gold'"),
        (("currency: USD", "currency: usd"), "currency: String should match pattern"),
        (("currency: USD", "currency: [USD"), "not valid YAML"),
    ],
)
def test_invalid_demo_data_is_refused_naming_file_and_key(
    engine: Engine, tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    folder = Path(shutil.copytree(SHIPPED, tmp_path / "demo"))
    path = folder / "acme.yaml"
    old, new = edit
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as info:
        seed_demo_data(engine, source=folder)
    assert info.value.path == str(path)
    assert counts(engine, "globex") == (0, 0, 0)


def test_a_missing_folder_is_named(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no demo data folder"):
        seed_demo_data(engine, source=tmp_path / "nope")
