"""Calls with tools: every model request of the tool loop is billed, slow tools are not the provider's
fault, and an attempt that already ran tools is never repeated (their side effects would be)."""

from __future__ import annotations

import asyncio

import pytest

from focal.execution import BreakerState, ProviderUnavailable, ToolTimeoutError
from focal.telemetry.records import CallStatus

from .conftest import Harness

SONNET = "anthropic/claude-sonnet-5"


@pytest.fixture
def ledger() -> list[str]:
    return []


def refund_tool(ledger: list[str]):  # type: ignore[no-untyped-def]
    def refund(order_id: str) -> str:
        """Refund an order."""
        ledger.append(order_id)
        return f"refunded {order_id}"

    return refund


async def test_every_model_request_of_the_tool_loop_is_billed(harness: Harness, ledger: list[str]) -> None:
    harness.fakes.script(SONNET, {"tool": "refund", "args": {"order_id": "A1"}}, "Done: A1 is refunded.")
    response = await harness.executor.run("refund A1", harness.ctx(), tools=[refund_tool(ledger)])
    assert response.content == "Done: A1 is refunded." and ledger == ["A1"]
    assert (response.usage.input, response.usage.output) == (20, 10)  # two model requests of (10, 5)
    assert response.cost == harness.executor.caller.price(harness.executor.registry.parse_ref(SONNET), response.usage)


async def test_a_failure_after_a_tool_ran_is_billed_and_never_repeated(harness: Harness, ledger: list[str]) -> None:
    harness.fakes.script(SONNET, {"tool": "refund", "args": {"order_id": "A1"}}, ProviderUnavailable("down"))
    with pytest.raises(ProviderUnavailable) as info:
        await harness.executor.run("refund A1", harness.ctx(), tools=[refund_tool(ledger)])
    assert ledger == ["A1"]  # refunded once: no retry, no fallback ran the tool again
    assert info.value.tools_ran and harness.fakes.calls(SONNET) == 2
    (record,) = harness.records
    assert (record.status, record.error_class) == (CallStatus.ERROR, "ProviderUnavailable")
    assert (record.input_tokens, record.output_tokens) == (10, 5) and record.cost_usd > 0  # the answered request


async def test_a_slow_tool_times_out_without_blaming_the_provider(harness: Harness) -> None:
    async def lookup(order_id: str) -> str:
        """Look an order up (slowly)."""
        await asyncio.sleep(1.0)
        return "found"

    for _ in range(4):  # more than the breaker's failure threshold (3)
        harness.fakes.script(SONNET, {"tool": "lookup", "args": {"order_id": "A1"}}, "unused")
        with pytest.raises(ToolTimeoutError, match="tools were still running"):
            await harness.executor.run("find A1", harness.ctx(timeout_seconds=0.1), tools=[lookup])
        harness.fakes.scripts[SONNET].clear()
    assert harness.fakes.calls(SONNET) == 4  # one model request per call: not retried, not failed over
    breaker = harness.executor.breakers.get(harness.executor.registry.parse_ref(SONNET).breaker_key)
    assert breaker.state is BreakerState.CLOSED
    assert {r.error_class for r in harness.records} == {"ToolTimeoutError"}


async def test_a_provider_that_hangs_while_tools_are_offered_is_a_provider_timeout(harness: Harness) -> None:
    def lookup(order_id: str) -> str:
        """Look an order up."""
        return "found"

    await harness.executor.run("warm up", harness.ctx())
    harness.fakes.models[SONNET].delay = 1.0  # the primary hangs; the fallback answers at once
    response = await harness.executor.run("find A1", harness.ctx(timeout_seconds=0.1), tools=[lookup])
    assert response.model_id == "gpt-4o" and response.fallback_used
    failed = [a.error_class for a in response.attempts if a.status == CallStatus.ERROR]
    assert failed == ["ProviderTimeoutError"] * 3  # retried: no tool ran, nothing would repeat
    breaker = harness.executor.breakers.get(harness.executor.registry.parse_ref(SONNET).breaker_key)
    assert breaker.state is BreakerState.CLOSED  # 0.1 s is the caller's choice, shorter than the provider's own


async def test_tool_messages_in_the_history_do_not_stop_retries(harness: Harness) -> None:
    from focal.execution import Message, Role

    history = [
        Message(Role.USER, "where is A1?"),
        Message(Role.TOOL, "A1 shipped yesterday", tool_call_id="call_1"),
        Message(Role.USER, "and when does it arrive?"),
    ]
    harness.fakes.script(SONNET, ProviderUnavailable("down"), "tomorrow")
    response = await harness.executor.run(history, harness.ctx())
    assert response.content == "tomorrow" and harness.fakes.calls(SONNET) == 2


async def test_a_tool_that_failed_half_way_still_ran(harness: Harness, ledger: list[str]) -> None:
    def charge(order_id: str) -> str:
        """Charge an order (acts, then fails)."""
        ledger.append(order_id)
        raise RuntimeError("card service answered garbage")

    harness.fakes.script(SONNET, {"tool": "charge", "args": {"order_id": "A1"}}, ProviderUnavailable("down"))
    with pytest.raises(ProviderUnavailable) as info:
        await harness.executor.run("charge A1", harness.ctx(), tools=[charge])
    assert info.value.tools_ran and ledger == ["A1"]  # told by the tool hook, not by counting requests
    assert harness.fakes.calls(SONNET) == 2


async def test_a_second_request_without_a_tool_call_is_not_a_tool_run(harness: Harness, ledger: list[str]) -> None:
    # Agno itself asks the model again (its own model retry): two requests in one run, no tool called,
    # nothing to repeat, so Focal retries and fails over as usual
    from agno.exceptions import ModelProviderError

    await harness.executor.run("warm up", harness.ctx())
    primary = harness.fakes.models[SONNET]
    primary.retries, primary.delay_between_retries = 1, 0
    calls_before = primary.calls
    harness.fakes.script(SONNET, ModelProviderError("busy", status_code=503), ModelProviderError("busy", 503))
    response = await harness.executor.run("refund A1", harness.ctx(), tools=[refund_tool(ledger)])
    assert primary.calls - calls_before == 2  # Agno's own second request
    assert ledger == [] and response.fallback_used and response.model_id == "gpt-4o"  # failed over: no tool ran
