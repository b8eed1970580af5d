"""Tenant budgets on SQLite and PostgreSQL: atomic reservations under concurrency, settle, downgrade."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from focal.execution import (
    AgnoExecutor,
    BudgetExceededError,
    BudgetManager,
    CostLimits,
    ExecutionContext,
    FallbackPolicy,
    LimitAction,
    ResilientExecutor,
)
from focal.execution.testing import FakeModels
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository
from focal.storage import make_async_engine, make_sync_engine, upgrade

SONNET = "anthropic/claude-sonnet-5"


@pytest.fixture
async def budgets(database_url: str) -> AsyncIterator[BudgetManager]:
    upgrade(database_url)
    engine = make_async_engine(database_url)
    yield BudgetManager(engine, ttl_seconds=60)
    await engine.dispose()


async def test_concurrent_reservations_never_overspend(budgets: BudgetManager) -> None:
    await budgets.set_budget("acme", "day", Decimal("0.25"), on_limit="abort")
    results = await asyncio.gather(
        *(budgets.reserve("acme", Decimal("0.01")) for _ in range(100)), return_exceptions=True
    )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert len(admitted) == 25 and len(refused) == 75
    (status,) = await budgets.status("acme")
    assert status.reserved_usd == Decimal("0.25") and status.spent_usd == 0
    assert refused[0].tenant_id == "acme" and refused[0].scope == "day"
    # settle with actual costs below the estimates: the freed money is usable again
    await asyncio.gather(*(budgets.settle(r, Decimal("0.004")) for r in admitted))
    (status,) = await budgets.status("acme")
    assert status.reserved_usd == 0 and status.spent_usd == Decimal("0.1")
    assert await budgets.reserve("acme", Decimal("0.15")) is not None
    with pytest.raises(BudgetExceededError, match="day budget"):
        await budgets.reserve("acme", Decimal("0.0001"))


async def test_day_and_month_are_both_enforced_atomically(budgets: BudgetManager) -> None:
    await budgets.set_budget("acme", "day", Decimal("1.00"))
    await budgets.set_budget("acme", "month", Decimal("0.05"))
    first = await budgets.reserve("acme", Decimal("0.04"))
    assert first is not None
    with pytest.raises(BudgetExceededError) as info:
        await budgets.reserve("acme", Decimal("0.02"))
    assert info.value.scope == "month"
    statuses = {s.period.value: s for s in await budgets.status("acme")}
    # the refused call held nothing in either period
    assert statuses["day"].reserved_usd == Decimal("0.04") == statuses["month"].reserved_usd


async def test_tenants_do_not_share_budgets(budgets: BudgetManager) -> None:
    await budgets.set_budget("acme", "day", Decimal("0.01"))
    assert await budgets.reserve("globex", Decimal("5")) is None  # no budget: nothing held
    await budgets.reserve("acme", Decimal("0.01"))
    with pytest.raises(BudgetExceededError):
        await budgets.reserve("acme", Decimal("0.01"))
    assert await budgets.status("globex") == []


async def test_budget_configuration_errors(budgets: BudgetManager) -> None:
    from focal.execution import ConfigurationError

    with pytest.raises(ConfigurationError):
        await budgets.set_budget("acme", "week", Decimal(1))
    with pytest.raises(ConfigurationError):
        await budgets.set_budget("acme", "day", Decimal(-1))
    assert await budgets.remove_budget("acme", "day") is False


@pytest.fixture
async def executor_with_budgets(
    database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs
) -> AsyncIterator[tuple[ResilientExecutor, BudgetManager, FakeModels, list]]:
    upgrade(database_url)
    sync_engine = make_sync_engine(database_url)
    engine = make_async_engine(database_url)
    overrides = OverrideRepository(registry, catalogs, engine=sync_engine, async_engine=engine)
    resolver = ModelResolver(registry, catalogs, overrides)
    fakes = FakeModels(default="ok", usage=(100, 50))
    budgets = BudgetManager(engine, ttl_seconds=60)
    records: list = []

    async def no_sleep(_: float) -> None:
        return None

    executor = ResilientExecutor(
        AgnoExecutor(registry, model_factory=fakes.factory),
        resolver,
        budgets=budgets,
        recorder=records.append,
        sleep=no_sleep,
    )
    yield executor, budgets, fakes, records
    await engine.dispose()
    sync_engine.dispose()


def ctx(tenant: str = "acme") -> ExecutionContext:
    return ExecutionContext(tenant_id=tenant, agent_id="support", session_id=f"{tenant}:s", step_name="generation")


async def test_hundred_concurrent_calls_admitted_spend_within_budget(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, budgets, _fakes, records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    # each call's estimate (prompt + 800 max output tokens on sonnet) is ~ $0.012; allow about 10 of them
    await budgets.set_budget("acme", "day", Decimal("0.125"), on_limit="abort")
    results = await asyncio.gather(*(executor.run("hello there", ctx()) for _ in range(100)), return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert len(ok) + len(refused) == 100
    assert 1 <= len(ok) < 100
    (status,) = await budgets.status("acme")
    assert status.reserved_usd == 0
    assert status.spent_usd == sum(r.cost for r in ok)
    assert status.spent_usd <= Decimal("0.125")
    assert sum(1 for r in records if r.status == "skipped" and r.fallback_cause == "budget") == len(refused)


async def test_near_the_limit_downgrades_before_refusing(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, budgets, _fakes, _ = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    # sonnet's estimate (~$0.012) does not fit, haiku's (~$0.004) does
    await budgets.set_budget("acme", "day", Decimal("0.006"), on_limit="downgrade")
    response = await executor.run("hello there", ctx())
    assert response.model_id == "claude-haiku-4-5"
    assert [a.status for a in response.attempts] == ["skipped", "success"]
    assert response.attempts[1].cause == "budget"


async def test_per_run_and_per_step_cost_limits(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, _, _fakes, _ = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    executor.cost_limits = CostLimits(per_step_usd=Decimal("0.001"), on_limit=LimitAction.ABORT)
    with pytest.raises(BudgetExceededError) as info:
        await executor.run("hello", ctx())
    assert info.value.scope == "step"
    executor.cost_limits = CostLimits(per_run_usd=Decimal("0.015"))
    run_ctx = ExecutionContext(tenant_id="acme", agent_id="support", step_name="generation", run_id="r1")
    await executor.run("hello", run_ctx)
    await executor.run("hello", run_ctx)
    with pytest.raises(BudgetExceededError) as info:
        for _ in range(5):
            await executor.run("hello", run_ctx)
    assert info.value.scope == "run"
    assert executor.end_run("r1", "acme") <= Decimal("0.015")


async def test_run_spend_is_settled_to_actual_cost(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, _, _, _ = executor_with_budgets
    executor.cost_limits = CostLimits(per_run_usd=Decimal("1"))
    run_ctx = ExecutionContext(tenant_id="acme", agent_id="support", step_name="generation", run_id="r2")
    first = await executor.run("hello", run_ctx)
    second = await executor.run("hello", run_ctx)
    assert executor.end_run("r2", "acme") == first.cost + second.cost  # estimates replaced by actual costs


async def test_calls_without_a_max_tokens_cannot_overspend_at_their_worst(
    database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    """`scenario_filtering` sets no max_tokens: the cap sent must be the one reserved, so even answers
    that use every output token they are allowed stay within the budget."""
    from focal.execution.testing import FakeModel

    upgrade(database_url)
    sync_engine, engine = make_sync_engine(database_url), make_async_engine(database_url)
    caps: list[int | None] = []

    def worst_case(model, registry, params):  # type: ignore[no-untyped-def]
        caps.append(params.max_tokens)
        return FakeModel(default="ok", usage=(100, params.max_tokens or 1_000_000))

    budgets = BudgetManager(engine, ttl_seconds=60)
    resolver = ModelResolver(
        registry, catalogs, OverrideRepository(registry, catalogs, engine=sync_engine, async_engine=engine)
    )
    executor = ResilientExecutor(
        AgnoExecutor(registry, model_factory=worst_case),
        resolver,
        budgets=budgets,
        fallback=FallbackPolicy(enabled=False),
    )
    try:
        await budgets.set_budget("acme", "day", Decimal("0.5"), on_limit="abort")
        step = ExecutionContext(
            tenant_id="acme", agent_id="support", session_id="acme:s", step_name="scenario_filtering"
        )
        results = await asyncio.gather(*(executor.run("hello", step) for _ in range(40)), return_exceptions=True)
        ok = [r for r in results if not isinstance(r, BaseException)]
        assert ok and all(isinstance(r, BudgetExceededError) for r in results if isinstance(r, BaseException))
        assert caps and None not in caps  # a cap is always sent
        (status,) = await budgets.status("acme")
        assert status.reserved_usd == 0
        assert status.spent_usd == sum(r.cost for r in ok) <= Decimal("0.5")
    finally:
        await engine.dispose()
        sync_engine.dispose()


async def test_an_answer_that_fails_validation_is_still_charged_and_recorded(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    from pydantic import BaseModel

    from focal.execution import StructuredOutputError

    class Verdict(BaseModel):
        ok: bool

    executor, budgets, fakes, records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    await budgets.set_budget("acme", "day", Decimal("10"), on_limit="abort")
    plan = await executor.plan(ctx())
    fakes.script(plan.hops[0].ref, "not json", "still not json")
    with pytest.raises(StructuredOutputError) as info:
        await executor.run_structured("verdict?", Verdict, ctx())
    err = info.value
    # both model runs were billed by the provider: the error, the budget and the record all say so
    assert err.usage is not None and (err.usage.input, err.usage.output) == (200, 100)
    assert err.cost == registry_cost(executor, plan.hops[0], 200, 100) > 0
    (status,) = await budgets.status("acme")
    assert status.spent_usd == err.cost and status.reserved_usd == 0
    (record,) = [r for r in records if r.status == "error"]
    assert (record.input_tokens, record.output_tokens, record.cost_usd) == (200, 100, err.cost)
    assert record.error_class == "StructuredOutputError"


def registry_cost(executor: ResilientExecutor, model, input_tokens: int, output_tokens: int) -> Decimal:  # type: ignore[no-untyped-def]
    return executor.registry.estimate_cost(model, input_tokens, output_tokens, 0)


async def test_a_warn_limit_never_switches_the_other_limits_off(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, budgets, _fakes, _records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    # a soft per-step limit (warn) does not stop the tenant's hard budget (abort) from refusing
    executor.cost_limits = CostLimits(per_step_usd=Decimal("0.0000001"), on_limit=LimitAction.WARN)
    await budgets.set_budget("acme", "day", Decimal("0.000001"), on_limit="abort")
    with pytest.raises(BudgetExceededError) as info:
        await executor.run("hello there", ctx())
    assert info.value.scope == "day"


async def test_warned_spend_is_still_held_and_charged(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, budgets, _fakes, records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    await budgets.set_budget("acme", "day", Decimal("0.013"), on_limit="warn")  # about one call's estimate
    executor.cost_limits = CostLimits(per_run_usd=Decimal("0.013"), on_limit=LimitAction.WARN)
    turn = ExecutionContext(
        tenant_id="acme", agent_id="support", session_id="acme:s", step_name="generation", run_id="r1"
    )
    responses = [await executor.run("hello there", turn) for _ in range(4)]  # past both limits: warned, answered
    total = sum(r.cost for r in responses)
    assert sum(r.cost_usd for r in records) == total
    (status,) = await budgets.status("acme")
    assert status.spent_usd == total and status.reserved_usd == 0  # charged past the limit, not forgotten
    assert executor.end_run("r1", "acme") == total


async def test_a_settle_the_database_refused_is_retried(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    executor, budgets, _fakes, records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    await budgets.set_budget("acme", "day", Decimal("10"), on_limit="abort")
    real = budgets.settle

    async def locked_once(reservation, actual):  # type: ignore[no-untyped-def]
        budgets.settle = real
        raise OperationalError("UPDATE budget_usage", {}, Exception("database is locked"))

    budgets.settle = locked_once
    response = await executor.run("hello there", ctx())
    await executor.drain()  # the retry runs in the background
    (status,) = await budgets.status("acme")
    assert status.spent_usd == response.cost == records[-1].cost_usd and status.reserved_usd == 0


async def test_each_period_applies_its_own_on_limit(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, budgets, _fakes, _records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    await budgets.set_budget("acme", "day", Decimal("0.000001"), on_limit="warn")
    await budgets.set_budget("acme", "month", Decimal("10"), on_limit="abort")
    response = await executor.run("hello there", ctx())  # past the day's limit, warned; the month has room
    statuses = {s.period.value: s for s in await budgets.status("acme")}
    assert statuses["day"].spent_usd == response.cost == statuses["month"].spent_usd
    await budgets.set_budget("acme", "month", Decimal("0.000001"), on_limit="abort")
    with pytest.raises(BudgetExceededError) as info:  # the warn day does not let the abort month pass
        await executor.run("hello there", ctx())
    assert info.value.scope == "month"


async def test_a_warn_period_is_not_downgraded_by_another_periods_action(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, budgets, _fakes, _records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    await budgets.set_budget("acme", "day", Decimal("10"), on_limit="downgrade")
    await budgets.set_budget("acme", "month", Decimal("0.000001"), on_limit="warn")
    response = await executor.run("hello there", ctx())
    assert (response.model_id, response.fallback_used) == ("claude-sonnet-5", False)
    assert [a.status for a in response.attempts] == ["success"]


async def test_an_unreachable_budget_store_refuses_the_call_typed(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    from focal.execution import BudgetUnavailableError

    executor, budgets, fakes, records = executor_with_budgets
    executor.fallback = FallbackPolicy(enabled=False)
    await budgets.set_budget("acme", "day", Decimal("10"), on_limit="abort")

    async def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("UPDATE budget_usage", {}, Exception("could not connect to server"))

    budgets.reserve = down  # type: ignore[method-assign]
    with pytest.raises(BudgetUnavailableError, match=r"tenant 'acme'.*could not connect") as info:
        await executor.run("hello there", ctx())
    assert info.value.tenant_id == "acme"
    assert fakes.calls("anthropic/claude-sonnet-5") == 0  # nothing sent unbudgeted
    assert [(r.status, r.error_class, r.cost_usd) for r in records] == [("error", "BudgetUnavailableError", 0)]


async def test_each_round_of_a_tool_loop_is_admitted_so_tools_cannot_overspend(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, budgets, fakes, records = executor_with_budgets
    refunded: list[str] = []

    def refund(order_id: str) -> str:
        """Refund an order."""
        refunded.append(order_id)
        return f"refunded {order_id}"

    sonnet = SONNET
    fakes.script(sonnet, *({"tool": "refund", "args": {"order_id": f"A{i}"}} for i in range(5)), "all done")
    plan = await executor.plan(ctx())
    estimate = executor.registry.estimate_cost(plan.hops[0], 40, plan.params.max_tokens)  # a request's worst case
    await budgets.set_budget("acme", "day", estimate * Decimal("2.5"), on_limit="abort")  # two requests fit
    with pytest.raises(BudgetExceededError) as info:
        await executor.run("refund everything", ctx(), tools=[refund])
    assert info.value.scope == "day" and info.value.tools_ran
    assert refunded == ["A0", "A1"] and fakes.calls(sonnet) == 2  # the third request was never sent
    (status,) = await budgets.status("acme")
    (record,) = records  # not retried, not failed over: the tools would run again
    assert (record.status, record.error_class, record.input_tokens) == ("error", "BudgetExceededError", 200)
    assert status.spent_usd == record.cost_usd > 0 and status.reserved_usd == 0
    assert status.spent_usd <= status.limit_usd


def refund_tool(refunded: list[str]):  # type: ignore[no-untyped-def]
    def refund(order_id: str) -> str:
        """Refund an order."""
        refunded.append(order_id)
        return f"refunded {order_id}"

    return refund


async def test_a_step_limit_bounds_the_whole_tool_loop_not_each_round(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    executor, _budgets, fakes, records = executor_with_budgets
    refunded: list[str] = []
    fakes.script(SONNET, *({"tool": "refund", "args": {"order_id": f"A{i}"}} for i in range(5)), "all done")
    plan = await executor.plan(ctx())
    one_round = executor.registry.estimate_cost(plan.hops[0], 60, plan.params.max_tokens)
    executor.cost_limits = CostLimits(steps={"generation": one_round * Decimal("2.5")}, on_limit=LimitAction.ABORT)
    with pytest.raises(BudgetExceededError) as info:
        await executor.run("refund everything", ctx(), tools=[refund_tool(refunded)])
    assert info.value.scope == "step" and refunded == ["A0", "A1"]  # the third round would pass the limit
    assert [r.error_class for r in records] == ["BudgetExceededError"]


async def test_a_tool_loop_cut_by_the_deadline_is_charged_its_rounds_at_worst(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    from focal.execution import DeadlineExceededError

    executor, budgets, fakes, records = executor_with_budgets
    await budgets.set_budget("acme", "day", Decimal("10"), on_limit="abort")
    calls: list[str] = []

    async def lookup(order_id: str) -> str:
        """Look an order up (the third lookup hangs)."""
        calls.append(order_id)
        if len(calls) == 3:
            await asyncio.sleep(2)
        return "found"

    fakes.script(SONNET, *({"tool": "lookup", "args": {"order_id": f"A{i}"}} for i in range(3)), "done")
    with pytest.raises(DeadlineExceededError) as info:
        await executor.run("look everything up", ctx().with_deadline_in(0.5), tools=[lookup])
    assert info.value.tools_ran and fakes.calls(SONNET) == 3  # not retried: the lookups would run again
    (record,) = records
    (status,) = await budgets.status("acme")
    plan = await executor.plan(ctx())
    one_round = executor.registry.estimate_cost(plan.hops[0], 10, plan.params.max_tokens)
    assert record.cost_usd > 2 * one_round  # three answered rounds, usage unknown: their worst case
    assert status.spent_usd == record.cost_usd and status.reserved_usd == 0
    assert record.premium_cost_usd >= record.cost_usd  # the savings baseline prices the same rounds


async def test_a_budget_store_failing_mid_loop_keeps_the_rounds_usage(executor_with_budgets) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    from focal.execution import BudgetUnavailableError

    executor, budgets, fakes, records = executor_with_budgets
    await budgets.set_budget("acme", "day", Decimal("10"), on_limit="abort")
    refunded: list[str] = []
    fakes.script(SONNET, *({"tool": "refund", "args": {"order_id": f"A{i}"}} for i in range(3)), "done")
    real_reserve = budgets.reserve

    async def failing_after_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        budgets.reserve = down  # type: ignore[method-assign]
        return await real_reserve(*args, **kwargs)

    async def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("UPDATE budget_usage", {}, Exception("server closed the connection"))

    budgets.reserve = failing_after_first  # type: ignore[method-assign]
    with pytest.raises(BudgetUnavailableError):
        await executor.run("refund everything", ctx(), tools=[refund_tool(refunded)])
    budgets.reserve = real_reserve  # type: ignore[method-assign]
    await executor.drain()
    (record,) = records
    assert refunded == ["A0"] and (record.input_tokens, record.output_tokens) == (100, 50)  # the answered round
    (status,) = await budgets.status("acme")
    assert status.spent_usd == record.cost_usd > 0 and status.reserved_usd == 0
