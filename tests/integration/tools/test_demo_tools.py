"""The shipped demo tools on SQLite and PostgreSQL: each tenant sees its own rows only, whatever the
arguments say; refunds are idempotent per (tenant, order); the tools work as Agno tools too."""

from __future__ import annotations

import asyncio
import json
from collections import deque

import pytest
from agno.agent import Agent
from focal.tools import SHIPPED_TOOLS, ToolRegistry
from sqlalchemy import select

from focal.execution.testing import FakeModel
from focal.storage import DemoRefund, make_sync_engine
from tests.integration.tools.conftest import ctx

ACME_12345 = {
    "order_status": "shipped",
    "order_total": 49.9,
    "order_currency": "USD",
    "order_items": [
        {"sku": "MUG-01", "name": "Coffee mug", "quantity": 2, "unit_price": 12.5},
        {"sku": "BEAN-1K", "name": "Espresso beans 1 kg", "quantity": 1, "unit_price": 24.9},
    ],
    "order_placed_at": "2026-11-28T10:15:00+00:00",
    "carrier": "UPS",
    "tracking_number": "1Z999AA10123456784",
}
NOT_FOUND = {
    "order_status": "not_found",
    "order_total": None,
    "order_currency": None,
    "order_items": None,
    "order_placed_at": None,
    "carrier": None,
    "tracking_number": None,
}


def refunds(database_url: str, tenant: str) -> list[tuple[str, str, int, str, str | None]]:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    DemoRefund.refund_id,
                    DemoRefund.order_number,
                    DemoRefund.amount_cents,
                    DemoRefund.status,
                    DemoRefund.requested_by,
                )
                .where(DemoRefund.tenant_id == tenant)
                .order_by(DemoRefund.order_number)
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_registry_and_catalog_agree(registry: ToolRegistry) -> None:
    assert [tool.spec for tool in registry] == sorted(SHIPPED_TOOLS, key=lambda s: s.id)
    assert registry.catalog().ids() == ["customer_profile", "order_lookup", "refund_request"]


async def test_order_lookup_returns_the_tenants_own_order(registry: ToolRegistry) -> None:
    acme = await registry.invoke("order_lookup", {"order_number": "ORD-12345"}, ctx("acme"))
    assert acme.ok and acme.output == ACME_12345
    globex = await registry.invoke("order_lookup", {"order_number": " ord-12345 "}, ctx("globex"))
    assert globex.ok and globex.output["order_status"] == "delivered"
    assert (globex.output["carrier"], globex.output["order_total"]) == ("DHL", 149.0)
    pending = await registry.invoke("order_lookup", {"order_number": "ORD-10002"}, ctx("acme"))
    assert pending.output["order_status"] == "processing" and pending.output["carrier"] is None


async def test_another_tenants_order_is_not_found(registry: ToolRegistry) -> None:
    for tenant, number in (("acme", "ORD-20001"), ("globex", "ORD-10001"), ("initech", "ORD-12345")):
        result = await registry.invoke("order_lookup", {"order_number": number}, ctx(tenant))
        assert result.ok and result.output == NOT_FOUND, (tenant, number)


async def test_a_tenant_argument_is_refused_and_reveals_nothing(registry: ToolRegistry) -> None:
    result = await registry.invoke("order_lookup", {"order_number": "ORD-20001", "tenant_id": "globex"}, ctx("acme"))
    assert not result.ok and result.output == {}
    assert "unexpected argument 'tenant_id'" in (result.error or "")
    state = {"customer": "x"}
    sneaky = await registry.invoke("order_lookup", {"order_number": "ORD-20001"}, ctx("acme", **state))
    assert sneaky.output == NOT_FOUND  # other keys in the state change nothing: the tenant is acme


@pytest.mark.parametrize("tool", ["order_lookup", "customer_profile", "refund_request"])
async def test_no_tenant_in_the_session_state_is_refused(registry: ToolRegistry, seeded: str, tool: str) -> None:
    arguments = {"order_number": "ORD-12345", "amount": 5}
    spec = registry.get(tool)
    assert spec is not None
    wanted = {k: v for k, v in arguments.items() if k in spec.spec.parameters}
    result = await registry.invoke(tool, wanted, ctx(None))
    assert not result.ok and result.output == {}
    assert (
        result.error == f"{tool}: no tenant in the run context (session_state['tenant_id'] is missing): refusing to run"
    )
    assert refunds(seeded, "acme") == [("RF-ACME000001", "ORD-10003", 1250, "approved", "u-7")]


async def test_customer_profile_is_the_run_users_in_the_tenant(registry: ToolRegistry) -> None:
    acme = await registry.invoke("customer_profile", {}, ctx("acme", user="u-42"))
    assert acme.ok and acme.output == {"customer_name": "Dana", "customer_tier": "gold"}
    globex = await registry.invoke("customer_profile", {}, ctx("globex", user="u-42"))
    assert globex.output == {"customer_name": "Hank", "customer_tier": "silver"}
    stranger = await registry.invoke("customer_profile", {}, ctx("acme", user="u-99"))  # globex's customer
    assert (stranger.ok, stranger.error) == (False, "customer_profile: no customer 'u-99' for this tenant")
    nobody = await registry.invoke("customer_profile", {}, ctx("acme", user=None))
    assert nobody.error == (
        "customer_profile: no customer in the run context (run_context.user_id is missing): refusing to run"
    )


async def test_refund_request_is_idempotent_per_tenant_and_order(registry: ToolRegistry, seeded: str) -> None:
    first = await registry.invoke("refund_request", {"order_number": "ORD-12345", "amount": 20}, ctx("acme"))
    assert first.ok and first.output["refund_status"] == "approved" and first.output["refund_reason"] is None
    refund_id = first.output["refund_id"]
    assert refund_id.startswith("RF-")
    again = await registry.invoke("refund_request", {"order_number": "ORD-12345", "amount": "30"}, ctx("acme"))
    assert again.ok and again.output["refund_id"] == refund_id and again.output["refund_status"] == "approved"
    assert again.output["refund_reason"].startswith("a refund of 20.00 USD for ORD-12345 was already requested on ")
    # the same order number at globex is globex's own order: its own refund
    other = await registry.invoke("refund_request", {"order_number": "ORD-12345", "amount": 20}, ctx("globex"))
    assert other.ok and other.output["refund_id"] != refund_id
    seeded_refund = await registry.invoke("refund_request", {"order_number": "ORD-10003", "amount": 5}, ctx("acme"))
    assert seeded_refund.output["refund_id"] == "RF-ACME000001"
    assert refunds(seeded, "acme") == [
        ("RF-ACME000001", "ORD-10003", 1250, "approved", "u-7"),
        (refund_id, "ORD-12345", 2000, "approved", "u-42"),
    ]
    assert [r[1:] for r in refunds(seeded, "globex")] == [("ORD-12345", 2000, "approved", "u-42")]


async def test_refund_decisions(registry: ToolRegistry, seeded: str) -> None:
    large = await registry.invoke("refund_request", {"order_number": "ORD-10001", "amount": 80.5}, ctx("acme"))
    assert large.ok and large.output["refund_status"] == "pending_review"
    assert large.output["refund_reason"] == "refunds above 50.00 USD are reviewed by a colleague"
    too_much = await registry.invoke("refund_request", {"order_number": "ORD-10002", "amount": 70}, ctx("acme"))
    assert too_much.ok and too_much.output == {
        "refund_id": None,
        "refund_status": "rejected",
        "refund_reason": "70.00 USD is more than the order total 64.00 USD",
    }
    elsewhere = await registry.invoke("refund_request", {"order_number": "ORD-20001", "amount": 5}, ctx("acme"))
    assert elsewhere.output == {
        "refund_id": None,
        "refund_status": "rejected",
        "refund_reason": "there is no order ORD-20001",
    }
    assert [r[1:4] for r in refunds(seeded, "acme")] == [
        ("ORD-10001", 8050, "pending_review"),
        ("ORD-10003", 1250, "approved"),
    ]
    cancelled = await registry.invoke("refund_request", {"order_number": "ORD-20002", "amount": 5}, ctx("globex"))
    assert cancelled.output["refund_reason"] == "order ORD-20002 was cancelled: nothing was charged"
    assert refunds(seeded, "globex") == []


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (-5, "refund_request: argument 'amount' must be a positive amount, got -5.0"),
        (0.001, "refund_request: argument 'amount' must be a positive amount, got 0.001"),
        ("ten", "refund_request: argument 'amount' must be a number, got 'ten'"),
        (None, "refund_request: missing argument 'amount' (number)"),
    ],
)
async def test_a_bad_amount_is_named(registry: ToolRegistry, seeded: str, amount: object, error: str) -> None:
    result = await registry.invoke("refund_request", {"order_number": "ORD-12345", "amount": amount}, ctx("acme"))
    assert (result.ok, result.error) == (False, error)
    assert len(refunds(seeded, "acme")) == 1  # the seeded one only


async def test_concurrent_refund_requests_make_one_refund(registry: ToolRegistry, seeded: str) -> None:
    results = await asyncio.gather(
        *(
            registry.invoke("refund_request", {"order_number": "ORD-20001", "amount": 10}, ctx("globex", user=f"u-{i}"))
            for i in range(6)
        )
    )
    assert all(r.ok for r in results), [r.error for r in results]
    assert len({r.output["refund_id"] for r in results}) == 1
    assert len(refunds(seeded, "globex")) == 1


async def test_a_timeout_fails_the_call_clearly(registry: ToolRegistry) -> None:
    result = await registry.invoke("order_lookup", {"order_number": "ORD-12345"}, ctx("acme"), timeout=0)
    assert (result.ok, result.output, result.error) == (False, {}, "order_lookup timed out after 0 s")
    after = await registry.invoke("order_lookup", {"order_number": "ORD-12345"}, ctx("acme"))
    assert after.ok and after.output == ACME_12345  # the database is fine afterwards


async def test_as_agno_tools_the_model_cannot_choose_the_tenant(registry: ToolRegistry) -> None:
    model = FakeModel(
        replies=deque(
            [
                {"tool": "order_lookup", "args": {"order_number": "ORD-20001", "tenant_id": "globex"}},
                {"tool": "order_lookup", "args": {"order_number": "ORD-20001"}},
                {"tool": "order_lookup", "args": {"order_number": "ORD-12345"}},
                "done",
            ]
        )
    )
    agent = Agent(name="support", model=model, tools=registry.agno_tools(), telemetry=False)
    out = await agent.arun(
        "where is my order?", session_id="acme:support:c1", user_id="u-42", session_state={"tenant_id": "acme"}
    )
    assert out.content == "done"
    calls = out.tools or []
    assert [c.tool_call_error for c in calls] == [True, False, False]
    assert "tenant_id" in str(calls[0].result) and "FedEx" not in str(calls[0].result)
    assert json.loads(str(calls[1].result)) == NOT_FOUND
    assert json.loads(str(calls[2].result)) == ACME_12345
