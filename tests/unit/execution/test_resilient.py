"""ResilientExecutor over FakeModels: retries, fallbacks, breakers, deadlines, structured output, streams.

The fake models are real Agno models, so the whole agent loop runs; only HTTP is absent (the
fault-injection tests through the real SDKs live in tests/integration/faults/).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from focal.execution import (
    AllAttemptsFailedError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ConfigurationError,
    ContentFiltered,
    ContextWindowExceeded,
    DeadlineExceededError,
    ExecutionContext,
    FallbackPolicy,
    ProviderUnavailable,
    RateLimitError,
    StreamInterruptedError,
    StructuredOutputError,
)
from focal.execution import _machinery as resilient_module  # where the call events are logged
from focal.execution.testing import FakeModels
from tests.fakes.logs import captured_logs

SONNET = "anthropic/claude-sonnet-5"  # support.generation's model
GPT4O = "openai/gpt-4o"  # its first fallback
HAIKU = "anthropic/claude-haiku-4-5"  # its second fallback


def down(code: int = 503) -> ProviderUnavailable:
    return ProviderUnavailable("service unavailable", status_code=code)


async def test_success_records_one_attempt_with_resolution(harness) -> None:  # type: ignore[no-untyped-def]
    response = await harness.executor.run("hello", harness.ctx())
    assert response.content == "fine answer"
    assert (response.provider, response.model_id, response.tier) == ("anthropic", "claude-sonnet-5", "capable")
    assert response.usage.input == 10 and response.usage.output == 5
    assert response.cost == harness.executor.registry.estimate_cost(SONNET, 10, 5)
    assert response.fallback_used is False
    assert [(a.model_ref, a.status) for a in response.attempts] == [(SONNET, "success")]
    (record,) = harness.records
    assert record.tenant_id == "acme" and record.step_name == "generation"
    assert record.resolution_source == "agent_catalog" and "support.yaml" in record.resolution_reason
    assert record.status == "success" and record.cost_usd == response.cost
    assert record.premium_cost_usd == harness.executor.registry.estimate_cost("anthropic/claude-opus-4-8", 10, 5)


async def test_500_once_then_ok_retries_same_model(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, down(500))
    response = await harness.executor.run("hello", harness.ctx())
    assert response.model_id == "claude-sonnet-5"
    assert [(a.model_ref, a.attempt_number, a.status) for a in response.attempts] == [
        (SONNET, 1, "error"),
        (SONNET, 2, "success"),
    ]
    assert harness.fakes.calls(SONNET) == 2
    assert len(harness.sleeps) == 1 and 0 <= harness.sleeps[0] <= 0.5
    assert [r.status for r in harness.records] == ["error", "success"]


async def test_attempts_of_one_call_share_its_call_id(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, down(500), down(503), down(503))  # sonnet fails every try: gpt-4o answers
    response = await harness.executor.run("hello", harness.ctx())
    assert response.model_id == "gpt-4o"
    records = harness.records
    assert len(records) == 4
    assert {r.call_id for r in records} == {response.call_id}  # one call ...
    assert len({r.attempt_id for r in records}) == 4  # ... four attempts
    other = await harness.executor.run("hello again", harness.ctx())
    assert other.call_id != response.call_id and harness.records[-1].call_id == other.call_id


async def test_retry_after_is_honoured(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, RateLimitError("slow down", status_code=429, retry_after=4.0))
    response = await harness.executor.run("hello", harness.ctx())
    assert response.model_id == "claude-sonnet-5"
    assert harness.sleeps == [4.0]


async def test_retry_after_beyond_max_delay_moves_to_next_hop(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, RateLimitError("slow down", status_code=429, retry_after=60.0))
    response = await harness.executor.run("hello", harness.ctx())
    assert response.model_id == "gpt-4o" and response.fallback_used
    assert harness.sleeps == []
    assert response.attempts[1].cause == "RateLimitError"


async def test_exhausted_retries_fall_back_in_chain_order(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, down(), down(), down())
    harness.fakes.script(GPT4O, down(502), down(502), down(502))
    response = await harness.executor.run("hello", harness.ctx())
    assert response.model_id == "claude-haiku-4-5"
    assert [(a.model_ref, a.status) for a in response.attempts] == [(SONNET, "error")] * 3 + [(GPT4O, "error")] * 3 + [
        (HAIKU, "success")
    ]
    assert [r.fallback_hop for r in harness.records] == [0, 0, 0, 1, 1, 1, 2]
    assert harness.records[-1].fallback_cause == "ProviderUnavailable"


async def test_every_hop_failing_raises_with_all_attempts(harness) -> None:  # type: ignore[no-untyped-def]
    for ref in (SONNET, GPT4O, HAIKU):
        harness.fakes.script(ref, down(), down(), down())
    with pytest.raises(AllAttemptsFailedError) as info:
        await harness.executor.run("hello", harness.ctx())
    assert len(info.value.attempts) == 9
    assert isinstance(info.value.last, ProviderUnavailable)
    assert all(r.status == "error" for r in harness.records)


@pytest.mark.parametrize("code", [400, 404, 422])
async def test_client_errors_are_not_retried_nor_fall_back(harness, code: int) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, BadRequestError("bad request", status_code=code))
    with pytest.raises(BadRequestError):
        await harness.executor.run("hello", harness.ctx())
    assert harness.fakes.calls(SONNET) == 1 and harness.fakes.calls(GPT4O) == 0
    assert harness.sleeps == []


async def test_401_no_retry_no_fallback_clear_error(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(
        SONNET,
        AuthenticationError("invalid x-api-key", status_code=401, provider="anthropic", model="claude-sonnet-5"),
    )
    with pytest.raises(AuthenticationError) as info:
        await harness.executor.run("hello", harness.ctx())
    assert "invalid x-api-key" in str(info.value) and "anthropic" in str(info.value)
    assert harness.fakes.calls(SONNET) == 1 and harness.fakes.calls(GPT4O) == 0
    assert [r.error_class for r in harness.records] == ["AuthenticationError"]


async def test_context_window_error_falls_back_to_a_larger_window(harness) -> None:  # type: ignore[no-untyped-def]
    # rule_filtering: openai/gpt-4o-mini (128k) with fallback anthropic:cheap (200k)
    harness.fakes.script("openai/gpt-4o-mini", ContextWindowExceeded("too long", status_code=400))
    response = await harness.executor.run("hello", harness.ctx("rule_filtering"))
    assert response.model_id == "claude-haiku-4-5"
    assert harness.fakes.calls("openai/gpt-4o-mini") == 1


async def test_context_window_error_adds_a_larger_model_when_the_chain_has_none(harness) -> None:  # type: ignore[no-untyped-def]
    await harness.overrides.aset("acme", "support", "generation", "openai:capable", fallback_chain=["openai:cheap"])
    harness.fakes.script(GPT4O, ContextWindowExceeded("too long", status_code=400))
    response = await harness.executor.run("hello", harness.ctx())
    # gpt-4o-mini has the same 128k window: skipped; the cheapest larger capable model is gpt-4.1 (1M)
    assert response.model_id == "gpt-4.1"
    assert harness.fakes.calls("openai/gpt-4o-mini") == 0


async def test_content_filter_falls_back(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, ContentFiltered("refused", provider="anthropic"))
    response = await harness.executor.run("hello", harness.ctx())
    assert response.model_id == "gpt-4o"
    assert response.attempts[-1].cause == "ContentFiltered"


async def test_breaker_opens_then_skips_then_fails_fast(harness) -> None:  # type: ignore[no-untyped-def]
    harness.executor.fallback = FallbackPolicy(enabled=False)
    for _ in range(3):
        harness.fakes.script(SONNET, down())
    with pytest.raises(AllAttemptsFailedError):
        await harness.executor.run("hello", harness.ctx())
    assert harness.executor.breakers.get("anthropic:capable").state.value == "open"
    calls_before = harness.fakes.calls(SONNET)
    with pytest.raises(CircuitOpenError) as info:
        await harness.executor.run("hello", harness.ctx())
    assert info.value.keys == ["anthropic:capable"]
    assert harness.fakes.calls(SONNET) == calls_before  # nothing sent
    assert harness.records[-1].status == "skipped" and harness.records[-1].fallback_cause == "circuit_open"


async def test_open_breaker_skips_straight_to_next_hop(harness) -> None:  # type: ignore[no-untyped-def]
    breaker = harness.executor.breakers.get("anthropic:capable")
    for _ in range(3):
        breaker.record_failure()
    response = await harness.executor.run("hello", harness.ctx())
    assert response.model_id == "gpt-4o"
    assert harness.fakes.calls(SONNET) == 0
    assert [(a.status, a.cause) for a in response.attempts] == [
        ("skipped", "circuit_open"),
        ("success", "circuit_open"),
    ]


async def test_deadline_stops_retries(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, down(), down(), down())
    ctx = harness.ctx(deadline=time.monotonic() - 1)
    with pytest.raises(DeadlineExceededError):
        await harness.executor.run("hello", ctx)
    assert harness.fakes.calls(SONNET) == 0


async def test_retry_wait_longer_than_remaining_deadline_is_not_taken(harness) -> None:  # type: ignore[no-untyped-def]
    harness.executor.fallback = FallbackPolicy(enabled=False)
    harness.fakes.script(SONNET, RateLimitError("slow", status_code=429, retry_after=5.0))
    ctx = harness.ctx().with_deadline_in(2.0)
    with pytest.raises(AllAttemptsFailedError):
        await harness.executor.run("hello", ctx)
    assert harness.sleeps == []


async def test_missing_context_fields_are_configuration_errors(harness) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match="step_name"):
        await harness.executor.run("hello", ExecutionContext(tenant_id="acme", agent_id="support"))
    with pytest.raises(ConfigurationError, match="unknown agent"):
        await harness.executor.run("hello", harness.ctx(agent_id="ghost"))
    with pytest.raises(ConfigurationError, match="not a pipeline step"):
        await harness.executor.run("hello", harness.ctx(step="greeting"))
    with pytest.raises(ConfigurationError, match="role"):
        await harness.executor.run([{"role": "wizard", "content": "x"}], harness.ctx())


async def test_task_type_step_outside_the_pipeline(harness) -> None:  # type: ignore[no-untyped-def]
    response = await harness.executor.run("summarize this", harness.ctx(step="summary", task_type="summarize"))
    assert response.model_id == "claude-haiku-4-5"  # summarize -> cheap on support's default provider


async def test_tenant_override_wins_and_hints_do_not_beat_it(harness) -> None:  # type: ignore[no-untyped-def]
    await harness.overrides.aset("globex", "support", "generation", "openai:cheap")
    response = await harness.executor.run("hello", harness.ctx(tenant_id="globex", tier_hint="premium"))
    assert response.model_id == "gpt-4o-mini"
    other = await harness.executor.run("hello", harness.ctx(tier_hint="premium"))
    assert other.model_id == "claude-opus-4-8"
    assert other.metadata["resolution_source"] == "hint"


class Verdict(BaseModel):
    compliant: bool
    reason: str


async def test_structured_output_validates_and_reasks_once(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, '```json\n{"compliant": true, "reason": "ok"}\n```')
    verdict, response = await harness.executor.run_structured("judge", Verdict, harness.ctx())
    assert verdict == Verdict(compliant=True, reason="ok")
    harness.fakes.script(SONNET, "I think it is fine", '{"compliant": false, "reason": "rude"}')
    verdict, response = await harness.executor.run_structured("judge", Verdict, harness.ctx())
    assert verdict.compliant is False
    assert response.usage.input == 20  # both asks are counted


async def test_structured_output_fails_typed_with_raw_text(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, "nope", '{"compliant": "maybe"}')
    with pytest.raises(StructuredOutputError) as info:
        await harness.executor.run_structured("judge", Verdict, harness.ctx())
    assert info.value.raw_text == '{"compliant": "maybe"}'
    assert info.value.schema_name == "Verdict"


async def test_stream_success_last_chunk_carries_response(harness) -> None:  # type: ignore[no-untyped-def]
    chunks = [c async for c in harness.executor.stream("hello", harness.ctx())]
    assert chunks[-1].done and chunks[-1].response is not None
    assert "".join(c.delta for c in chunks[:-1]) == chunks[-1].response.content == "fine answer"
    assert len(chunks) > 2
    assert harness.records[-1].streamed is True


async def test_stream_fails_over_before_first_token(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.script(SONNET, down(), down(), down())
    chunks = [c async for c in harness.executor.stream("hello", harness.ctx())]
    assert chunks[-1].response.model_id == "gpt-4o"
    assert chunks[-1].response.fallback_used


async def test_stream_cut_after_first_token_is_a_typed_error_not_success(harness) -> None:  # type: ignore[no-untyped-def]
    class CutAfterFirstChunk:
        """A streaming fault: the first chunk arrives, then the provider connection breaks."""

    from focal.execution.testing import FakeModel

    original = FakeModel.ainvoke_stream

    async def cut(self, messages=None, **kw):  # type: ignore[no-untyped-def]
        from agno.models.response import ModelResponse

        yield ModelResponse(role="assistant", content="partial ")
        raise down()

    FakeModel.ainvoke_stream = cut  # type: ignore[method-assign]
    try:
        received: list[str] = []
        with pytest.raises(StreamInterruptedError) as info:
            async for chunk in harness.executor.stream("hello", harness.ctx()):
                assert not chunk.done, "a cut stream must never end with a final response"
                received.append(chunk.delta)
    finally:
        FakeModel.ainvoke_stream = original  # type: ignore[method-assign]
    assert received == ["partial "]
    assert info.value.after_first_token is True
    assert info.value.partial_content == "partial "
    assert harness.fakes.calls(GPT4O) == 0  # no silent failover after tokens were sent
    assert harness.records[-1].status == "error" and harness.records[-1].error_class == "StreamInterruptedError"


def test_fallback_policy_hops(registry) -> None:  # type: ignore[no-untyped-def]
    from focal.execution import FallbackPolicy

    sonnet, gpt4o, haiku = (registry.parse_ref(r) for r in (SONNET, GPT4O, HAIKU))
    assert FallbackPolicy().hops(sonnet, [gpt4o, haiku, gpt4o]) == [sonnet, gpt4o, haiku]
    assert FallbackPolicy(max_hops=1).hops(sonnet, [gpt4o, haiku]) == [sonnet, gpt4o]
    assert FallbackPolicy(enabled=False).hops(sonnet, [gpt4o]) == [sonnet]
    mini = registry.parse_ref("openai:cheap")
    assert FallbackPolicy().larger_window(registry, mini, [mini]).ref == "openai/gpt-4.1-mini"
    assert FallbackPolicy(on_context_window=False).larger_window(registry, mini, [mini]) is None
    with pytest.raises(ValueError):
        FallbackPolicy(max_hops=-1)


async def test_content_filter_without_fallback_raises(harness) -> None:  # type: ignore[no-untyped-def]
    from focal.execution import FallbackPolicy

    harness.executor.fallback = FallbackPolicy(on_content_filter=False)
    harness.fakes.script(SONNET, ContentFiltered("refused", provider="anthropic"))
    with pytest.raises(ContentFiltered):
        await harness.executor.run("hello", harness.ctx())
    assert harness.fakes.calls(GPT4O) == 0


async def test_abandoned_stream_is_recorded_and_releases_the_probe(harness) -> None:  # type: ignore[no-untyped-def]
    breaker = harness.executor.breakers.get("anthropic:capable")
    for _ in range(3):
        breaker.record_failure()
    breaker._clock = lambda: 10**9  # the cool-down is over: the next attempt is the half-open probe
    stream = harness.executor.stream("hello", harness.ctx())
    first = await stream.__anext__()
    assert first.delta and not first.done
    await stream.aclose()  # the caller walks away mid-answer
    assert harness.records[-1].status == "error" and harness.records[-1].error_class == "GeneratorExit"
    assert breaker.allow() is True  # the probe slot was given back, not leaked


async def test_budget_refusal_does_not_leak_the_half_open_probe(harness) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from focal.execution import BudgetExceededError, CostLimits

    breaker = harness.executor.breakers.get("anthropic:capable")
    for _ in range(3):
        breaker.record_failure()
    breaker._clock = lambda: 10**9
    harness.executor.cost_limits = CostLimits(per_step_usd=Decimal("0.0000001"))
    with pytest.raises(BudgetExceededError):
        await harness.executor.run("hello", harness.ctx())
    assert breaker.allow() is True


async def test_stream_deadline_is_a_typed_error(harness) -> None:  # type: ignore[no-untyped-def]
    harness.fakes.delay = 0.0
    harness.fakes.models.clear()
    slow = FakeModels(default="late answer", delay=0.5)
    harness.executor.caller._factory = slow.factory  # type: ignore[attr-defined]
    harness.executor.caller._models.clear()  # type: ignore[attr-defined]
    ctx = harness.ctx().with_deadline_in(0.1)
    with pytest.raises(DeadlineExceededError):
        async for _ in harness.executor.stream("hello", ctx):
            pass


async def test_two_tenants_at_once_never_see_each_other(harness) -> None:  # type: ignore[no-untyped-def]
    """Concurrent calls of two tenants: each gets its own resolution, records and log context."""
    await harness.overrides.aset("globex", "support", "generation", "openai:cheap")
    model_of = {"acme": "claude-sonnet-5", "globex": "gpt-4o-mini"}

    async def call(tenant: str, i: int):  # type: ignore[no-untyped-def]
        ctx = harness.ctx(tenant_id=tenant, session_id=f"{tenant}:s{i}", run_id=f"{tenant}-run")
        return tenant, i, await harness.executor.run(f"{tenant} question {i}", ctx)

    with captured_logs(resilient_module) as logs:
        results = await asyncio.gather(*(call(t, i) for i in range(15) for t in ("acme", "globex")))
    records = {r.call_id: r for r in harness.records}
    assert len(records) == 30
    for tenant, i, response in results:
        assert response.model_id == model_of[tenant]
        record = records[response.call_id]
        assert (record.tenant_id, record.session_id, record.run_id) == (tenant, f"{tenant}:s{i}", f"{tenant}-run")
        assert record.model_id == model_of[tenant]
    events = [e for e in logs if e["event"] == "llm_call"]
    assert len(events) == 30
    for event in events:  # every call's structlog event is bound with its own tenant / agent / session / step
        tenant = event["tenant_id"]
        assert event["model"].endswith(model_of[tenant])
        assert event["session_id"].startswith(f"{tenant}:") and event["agent_id"] == "support"
        assert event["step"] == "generation"


async def test_step_limits_by_name_and_run_limits_per_tenant(harness) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from focal.execution import BudgetExceededError, CostLimits

    # generation may cost up to 5 cents; every other step only a hundredth of a cent
    harness.executor.cost_limits = CostLimits(per_step_usd=Decimal("0.0001"), steps={"generation": Decimal("0.05")})
    assert (await harness.executor.run("hello", harness.ctx())).model_id == "claude-sonnet-5"
    with pytest.raises(BudgetExceededError, match="step 'rule_filtering'") as info:
        await harness.executor.run("hello", harness.ctx(step="rule_filtering"))
    assert info.value.scope == "step" and info.value.limit_usd == Decimal("0.0001")

    # a per-run limit counts each tenant's spend apart, even when hosts reuse a run id
    for model in harness.fakes.models.values():
        model.usage = (100, 800)  # every answer uses its whole cap: sonnet $0.0123
    harness.executor.cost_limits = CostLimits(per_run_usd=Decimal("0.013"))
    acme = harness.ctx(run_id="turn-1")
    globex = harness.ctx(tenant_id="globex", session_id="globex:s1", run_id="turn-1")
    await harness.executor.run("hello", acme)  # estimate ~ $0.0120 (800 output tokens held) fits
    await harness.executor.run("hello", globex)  # globex's run is untouched by acme's spend
    with pytest.raises(BudgetExceededError, match="run turn-1"):
        await harness.executor.run("hello", acme)  # acme's run: $0.0123 spent + next estimate > $0.013
    assert harness.executor.end_run("turn-1", "acme") > 0
    await harness.executor.run("hello", acme)  # forgotten: a new turn may start over


async def test_a_suspended_stream_lends_its_log_context_to_nobody(harness) -> None:  # type: ignore[no-untyped-def]
    from focal.logging import current_context

    a = harness.ctx(tenant_id="tenant-a", session_id="a:private")
    b = harness.ctx(tenant_id="tenant-b", session_id=None)
    with captured_logs(resilient_module) as logs:
        stream = harness.executor.stream("hello", a)
        first = await stream.__anext__()  # tenant A's stream, suspended between chunks
        assert not first.done
        assert "tenant_id" not in current_context()  # the caller's context is its own
        await harness.executor.run("hello", b)  # meanwhile the same task serves tenant B
        async for _ in stream:
            pass
    events = {e["tenant_id"]: e for e in logs if e["event"] == "llm_call"}
    assert events["tenant-a"]["session_id"] == "a:private"
    assert "session_id" not in events["tenant-b"]  # never tenant A's session


async def test_a_failed_reask_still_carries_the_first_answers_tokens(harness) -> None:  # type: ignore[no-untyped-def]
    harness.executor.fallback = FallbackPolicy(enabled=False)
    harness.executor.retry = harness.executor.retry.__class__(max_attempts=1)
    harness.fakes.script(SONNET, "not json", down())  # the answer did not validate; the re-ask hit a 503
    with pytest.raises(AllAttemptsFailedError) as info:
        await harness.executor.run_structured("judge", Verdict, harness.ctx())
    err = info.value.last
    assert isinstance(err, ProviderUnavailable)
    assert (err.usage.input, err.usage.output) == (10, 5)  # the first run was billed all the same
    (record,) = harness.records
    assert (record.input_tokens, record.output_tokens, record.cost_usd) == (10, 5, err.cost) and err.cost > 0


async def test_a_slow_answer_past_the_turn_deadline_is_a_deadline_error(harness) -> None:  # type: ignore[no-untyped-def]
    slow = FakeModels(default="late answer", delay=0.5)
    harness.executor.caller._factory = slow.factory  # type: ignore[attr-defined]
    harness.executor.caller._models.clear()  # type: ignore[attr-defined]
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="turn deadline"):
        await harness.executor.run("hello", harness.ctx().with_deadline_in(0.1))
    assert time.monotonic() - started < 0.4  # cut at the deadline, not after the answer
    assert harness.records[-1].error_class == "DeadlineExceededError"


async def test_a_stream_closed_early_is_recorded_under_its_own_tenant(harness) -> None:  # type: ignore[no-untyped-def]
    from focal.logging import current_context

    seen: list[tuple[str, object]] = []
    sink = harness.executor._recorder.sink  # type: ignore[union-attr]

    def recording(record):  # type: ignore[no-untyped-def]
        seen.append((record.status, current_context().get("tenant_id")))
        sink(record)

    harness.executor._recorder.sink = recording  # type: ignore[union-attr]
    stream = harness.executor.stream("tell me a story", harness.ctx())
    await stream.__anext__()  # one chunk, then the caller walks away (outside any binding of its own)
    await stream.aclose()
    assert seen == [("error", "acme")]  # the abandoned attempt's record, bound to its call
