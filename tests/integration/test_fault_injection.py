"""Fault injection through the real SDKs (OpenAI, Anthropic, Ollama clients via Agno's models).

Every provider's base URL points at a loopback `FakeProviderServer`; faults are injected on the
wire. Each test asserts how many HTTP requests were made, which model answered, the call records
written, and that no truncated answer is ever reported as a success.

support.generation resolves to anthropic/claude-sonnet-5 with fallbacks openai/gpt-4o, then
anthropic/claude-haiku-4-5 (configs/agents/support.yaml).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from focal.execution import (
    AgnoExecutor,
    AllAttemptsFailedError,
    AuthenticationError,
    BreakerPolicy,
    CircuitBreakers,
    CircuitOpenError,
    ExecutionContext,
    FallbackPolicy,
    ResilientExecutor,
    RetryPolicy,
    StreamInterruptedError,
)
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository
from focal.storage import make_async_engine, make_sync_engine, upgrade
from focal.telemetry import LLMCallRecord
from tests.fakes.provider_server import FakeProviderServer, Reply

SONNET, GPT4O, HAIKU = "claude-sonnet-5", "gpt-4o", "claude-haiku-4-5"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    server: FakeProviderServer
    executor: ResilientExecutor
    clock: Clock
    records: list[LLMCallRecord] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def ctx(self, step: str = "generation") -> ExecutionContext:
        return ExecutionContext(
            tenant_id="acme", agent_id="support", session_id="acme:s1", step_name=step, timeout_seconds=1.0
        )

    def models(self) -> list[str | None]:
        return self.server.models_requested()

    def statuses(self) -> list[tuple[str, str]]:
        return [(r.model_id, r.status) for r in self.records]


@pytest.fixture
async def rig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: ModelRegistry, catalogs: AgentCatalogs
) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    engine = make_sync_engine(url)
    upgrade(engine)
    async_engine = make_async_engine(url)
    async with FakeProviderServer() as server:
        monkeypatch.setenv("FOCAL_OPENAI_BASE_URL", server.base_url + "/v1")
        monkeypatch.setenv("FOCAL_ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("FOCAL_OLLAMA_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        resolver = ModelResolver(
            registry, catalogs, OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
        )
        clock = Clock()
        rig = Rig(server=server, executor=None, clock=clock)  # type: ignore[arg-type]

        async def sleep(seconds: float) -> None:
            rig.sleeps.append(seconds)

        rig.executor = ResilientExecutor(
            AgnoExecutor(registry),  # the real provider models
            resolver,
            retry=RetryPolicy(max_attempts=2, initial_delay=0.2, max_delay=5.0),
            breakers=CircuitBreakers(BreakerPolicy(failure_threshold=3, cooldown_seconds=30), clock=clock),
            recorder=rig.records.append,
            stall_timeout_seconds=0.5,
            sleep=sleep,
        )
        yield rig
    await async_engine.dispose()
    engine.dispose()


async def collect(rig: Rig, ctx: ExecutionContext | None = None) -> tuple[list[str], object]:
    deltas: list[str] = []
    final = None
    async for chunk in rig.executor.stream("Tell me something.", ctx or rig.ctx()):
        if chunk.done:
            final = chunk.response
        else:
            deltas.append(chunk.delta)
    return deltas, final


async def test_ok_through_real_sdk_prices_real_usage(rig: Rig) -> None:
    rig.server.script(Reply.ok("All good.", usage=(1200, 30, 1000)))
    response = await rig.executor.run("hello", rig.ctx())
    assert response.content == "All good." and response.model_id == SONNET
    # Anthropic reports uncached input separately; Focal's input includes the cached part
    assert (response.usage.input, response.usage.cached_input, response.usage.output) == (1200, 1000, 30)
    assert response.cost == rig.executor.registry.estimate_cost(f"anthropic/{SONNET}", 1200, 30, 1000)
    assert response.request_id == "req_1" and response.finish_reason == "end_turn"
    assert rig.models() == [SONNET]


async def test_429_with_retry_after_is_waited_then_retried(rig: Rig) -> None:
    rig.server.script(Reply.error(429, headers={"retry-after": "3"}), Reply.ok("after the wait"))
    response = await rig.executor.run("hello", rig.ctx())
    assert response.content == "after the wait" and response.model_id == SONNET
    assert rig.models() == [SONNET, SONNET]
    assert rig.sleeps == [3.0]
    assert [(r.status, r.error_class) for r in rig.records] == [("error", "RateLimitError"), ("success", None)]


async def test_500_once_then_ok(rig: Rig) -> None:
    rig.server.script(Reply.error(500), Reply.ok("recovered"))
    response = await rig.executor.run("hello", rig.ctx())
    assert response.content == "recovered" and rig.models() == [SONNET, SONNET]
    assert response.attempts[0].status_code == 500


async def test_503_for_a_while_opens_breaker_then_half_open_probe_closes_it(rig: Rig) -> None:
    rig.executor.fallback = FallbackPolicy(enabled=False)
    rig.executor.retry = RetryPolicy(max_attempts=1)
    for _ in range(3):
        rig.server.script(Reply.error(503))
        with pytest.raises(AllAttemptsFailedError):
            await rig.executor.run("hello", rig.ctx())
    breaker = rig.executor.breakers.get("anthropic:capable")
    assert breaker.state.value == "open"
    sent = len(rig.server.requests)
    with pytest.raises(CircuitOpenError):
        await rig.executor.run("hello", rig.ctx())
    assert len(rig.server.requests) == sent  # no hammering
    rig.clock.now += 30
    assert breaker.state.value == "half_open"
    rig.server.script(Reply.ok("probe ok"))
    response = await rig.executor.run("hello", rig.ctx())
    assert response.content == "probe ok" and breaker.state.value == "closed"
    assert [r.breaker_state for r in rig.records][-2:] == ["open", "closed"]
    assert rig.records[-2].status == "skipped"


async def test_503_with_fallbacks_answers_from_the_other_provider(rig: Rig) -> None:
    rig.server.script(Reply.error(503), Reply.error(503), Reply.ok("from openai"))
    response = await rig.executor.run("hello", rig.ctx())
    assert (response.provider, response.model_id, response.content) == ("openai", GPT4O, "from openai")
    assert rig.models() == [SONNET, SONNET, GPT4O]
    assert response.fallback_used and rig.records[-1].fallback_hop == 1
    assert rig.records[-1].fallback_cause == "ProviderUnavailable"


async def test_connection_reset_is_retried(rig: Rig) -> None:
    rig.server.script(Reply.reset(), Reply.ok("second try"))
    response = await rig.executor.run("hello", rig.ctx())
    assert response.content == "second try" and rig.models() == [SONNET, SONNET]
    assert rig.records[0].error_class == "ProviderUnavailable"


async def test_timeout_is_retried(rig: Rig) -> None:
    rig.server.script(Reply.hang(3.0), Reply.ok("in time"))
    response = await rig.executor.run("hello", rig.ctx())
    assert response.content == "in time"
    assert rig.records[0].error_class == "ProviderTimeoutError"


async def test_slow_first_token_within_limits_completes(rig: Rig) -> None:
    rig.server.script(Reply.slow_first_token(0.3, "Slow but complete."))
    deltas, final = await collect(rig)
    assert "".join(deltas) == "Slow but complete." == final.content  # type: ignore[attr-defined]
    assert final.time_to_first_token_ms >= 250  # type: ignore[attr-defined]


async def test_slow_first_token_past_the_timeout_fails_over_before_anything_is_sent(rig: Rig) -> None:
    rig.server.script(Reply.slow_first_token(2.0), Reply.slow_first_token(2.0), Reply.ok("fast fallback"))
    deltas, final = await collect(rig)
    assert "".join(deltas) == "fast fallback" and final.model_id == GPT4O  # type: ignore[attr-defined]
    assert rig.records[0].error_class == "ProviderTimeoutError"


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        (Reply.cut(after_chunks=2), "StreamInterruptedError"),
        (Reply.stall(after_chunks=2, seconds=3.0), "StreamInterruptedError"),
        (Reply.malformed(after_chunks=2), "StreamInterruptedError"),
        (Reply.no_terminator(), "StreamInterruptedError"),
    ],
    ids=["cut", "stall", "malformed", "missing-terminator"],
)
async def test_stream_fault_after_first_token_is_never_reported_complete(
    rig: Rig, fault: Reply, error_class: str
) -> None:
    rig.server.script(fault)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in rig.executor.stream("Tell me something.", rig.ctx()):
            assert not chunk.done, "a damaged stream must not end with a final response"
            received.append(chunk.delta)
    assert received and info.value.after_first_token
    assert info.value.partial_content.startswith("".join(received)[:5])
    assert rig.models() == [SONNET]  # no retry and no failover once tokens were sent
    assert [r.status for r in rig.records] == ["error"]
    assert rig.records[0].error_class == error_class


async def test_stream_fault_on_openai_and_ollama_too(rig: Rig) -> None:
    await rig.executor.resolver.overrides.aset(
        "acme", "support", "generation", "openai:capable", fallback_chain=["ollama:capable"]
    )
    rig.server.script(Reply.no_terminator())
    with pytest.raises(StreamInterruptedError):
        await collect(rig)
    await rig.executor.resolver.overrides.aset("acme", "support", "generation", "ollama:capable", fallback_chain=[])
    rig.server.script(Reply.cut(after_chunks=1))
    with pytest.raises(StreamInterruptedError):
        await collect(rig)
    assert rig.models() == [GPT4O, "llama3.1:8b"]


async def test_stream_cut_before_first_token_fails_over(rig: Rig) -> None:
    rig.server.script(Reply.reset(), Reply.reset(), Reply.ok("clean answer"))
    deltas, final = await collect(rig)
    assert "".join(deltas) == "clean answer" and final.model_id == GPT4O  # type: ignore[attr-defined]


async def test_context_length_error_falls_back_to_a_bigger_window(rig: Rig) -> None:
    # rule_filtering: openai/gpt-4o-mini (128k window) with fallback anthropic:cheap (200k)
    rig.server.script(
        Reply.error(
            400,
            code="context_length_exceeded",
            error_type="invalid_request_error",
            message="This model's maximum context length is 128000 tokens.",
        ),
        Reply.ok("fits now"),
    )
    response = await rig.executor.run("hello", rig.ctx("rule_filtering"))
    assert response.model_id == HAIKU and response.content == "fits now"
    assert rig.models() == ["gpt-4o-mini", HAIKU]  # not retried on the small model
    assert rig.records[0].error_class == "ContextWindowExceeded"


async def test_content_filter_falls_back_and_is_recorded(rig: Rig) -> None:
    rig.server.script(Reply.content_filter(), Reply.ok("a safe answer"))
    response = await rig.executor.run("hello", rig.ctx())
    assert response.model_id == GPT4O and response.content == "a safe answer"
    assert rig.records[0].error_class == "ContentFiltered"


async def test_401_no_retry_no_fallback_clear_error(rig: Rig) -> None:
    rig.server.script(Reply.error(401, message="invalid x-api-key"))
    with pytest.raises(AuthenticationError) as info:
        await rig.executor.run("hello", rig.ctx())
    assert "invalid x-api-key" in str(info.value) and info.value.status_code == 401
    assert rig.models() == [SONNET]
    assert rig.sleeps == []
    assert [(r.status, r.error_class) for r in rig.records] == [("error", "AuthenticationError")]
