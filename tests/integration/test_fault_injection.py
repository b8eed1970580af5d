"""Fault injection through the real SDKs (OpenAI, Anthropic, Ollama clients via Agno's models).

Every provider's base URL points at a loopback `FakeProviderServer`; faults are injected on the
wire and the call goes through `ResilientExecutor` (retries, fallbacks, breakers, records). Every
test ends in `assert_outcome` (tests/fakes/outcomes.py), which asserts the number of HTTP requests
the fake received, the model that answered (or the typed error when none did), the `LLMCallRecord`s
written (one per attempt: status, error class, fallback hop, cause), and that no truncated answer
is ever reported as a success.

Routes (the primary model, then its first fallback):

- anthropic: support.generation from the catalog -- anthropic/claude-sonnet-5, then openai/gpt-4o,
  then anthropic/claude-haiku-4-5 (configs/agents/support.yaml);
- openai: a tenant override -- openai/gpt-4o, then anthropic/claude-sonnet-5;
- ollama: a tenant override -- ollama/llama3.1:8b, then openai/gpt-4o.

The executor retries twice per hop (`max_attempts=2`), the call timeout is 1 s and a stream that is
silent for 0.5 s after its first token has stalled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from focal.execution import (
    AgnoExecutor,
    AllAttemptsFailedError,
    AuthenticationError,
    BreakerPolicy,
    BudgetManager,
    CircuitBreakers,
    CircuitOpenError,
    ContentFiltered,
    ExecutionContext,
    FallbackPolicy,
    ProviderUnavailable,
    ResilientExecutor,
    RetryPolicy,
    StreamInterruptedError,
)
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository
from focal.storage import make_async_engine, make_sync_engine, upgrade
from focal.telemetry import LLMCallRecord
from tests.fakes.outcomes import (
    START,
    Mark,
    Rec,
    StreamOutcome,
    assert_outcome,
    err,
    mark,
    ok,
    run_outcome,
    skipped,
    stream_outcome,
)
from tests.fakes.provider_server import FakeProviderServer, Reply, close_clients

SONNET, GPT4O, HAIKU = "anthropic/claude-sonnet-5", "openai/gpt-4o", "anthropic/claude-haiku-4-5"
MINI, GPT41, LLAMA8 = "openai/gpt-4o-mini", "openai/gpt-4.1", "ollama/llama3.1:8b"

PROVIDERS = ["anthropic", "openai", "ollama"]
MODES = ["plain", "stream"]
PRIMARY = {"anthropic": SONNET, "openai": GPT4O, "ollama": LLAMA8}
FALLBACK = {"anthropic": GPT4O, "openai": SONNET, "ollama": GPT4O}
_OVERRIDES = {"openai": ("openai:capable", ["anthropic:capable"]), "ollama": ("ollama:capable", ["openai:capable"])}

PE, PTE, PU = "ProviderError", "ProviderTimeoutError", "ProviderUnavailable"
RLE, SIE, CWE, CF, AUTH = (
    "RateLimitError",
    "StreamInterruptedError",
    "ContextWindowExceeded",
    "ContentFiltered",
    "AuthenticationError",
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Outcome = Any  # LLMResponse | BaseException | StreamOutcome


@dataclass
class Rig:
    server: FakeProviderServer
    executor: ResilientExecutor
    clock: Clock
    records: list[LLMCallRecord] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    async_engine: Any = None
    build: Any = None
    """`build(budgets=None)`: an executor like the rig's (same models, policies and records sink)."""

    async def with_budget(self, limit_usd: str = "5") -> BudgetManager:
        """Give the tenant a daily budget and enforce it from now on (a fresh executor, same models)."""
        budgets = BudgetManager(self.async_engine)
        await budgets.set_budget("acme", "day", Decimal(limit_usd), on_limit="abort")
        self.executor = self.build(budgets=budgets)
        return budgets

    def ctx(self, step: str = "generation") -> ExecutionContext:
        return ExecutionContext(
            tenant_id="acme", agent_id="support", session_id="acme:s1", step_name=step, timeout_seconds=1.0
        )

    async def route(self, provider: str) -> None:
        """Aim support.generation at `provider` (see the module docstring)."""
        if provider in _OVERRIDES:
            ref, chain = _OVERRIDES[provider]
            await self.executor.resolver.overrides.aset("acme", "support", "generation", ref, fallback_chain=chain)

    async def call(self, mode: str, step: str = "generation") -> Outcome:
        """One call, plain or streamed; its outcome (the response, the typed error, or what the stream gave)."""
        if mode == "stream":
            return await stream_outcome(self.executor.stream("Tell me something.", self.ctx(step)))
        return await run_outcome(self.executor.run("Tell me something.", self.ctx(step)))

    def mark(self) -> Mark:
        return mark(self.server, self.records)

    def check(self, outcome: Outcome, *, since: Mark = START, **expected: Any) -> None:
        """`assert_outcome` against this rig's server and records; every scripted reply was used."""
        assert_outcome(outcome, self.server, self.records, since=since, **expected)
        for record in self.records[since.records :]:  # who the call was for, on every record
            who = (record.tenant_id, record.agent_id, record.session_id, record.step_name)
            assert who == ("acme", "support", "acme:s1", record.step_name) and record.step_name
            assert record.resolution_source and record.task_type
        assert self.server.pending == 0, f"{self.server.pending} scripted replies were never requested"
        assert self.server.errors == []


@pytest.fixture
async def rig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: ModelRegistry, catalogs: AgentCatalogs
) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    engine = make_sync_engine(url)
    upgrade(engine)
    async_engine = make_async_engine(url)
    async with FakeProviderServer() as server:
        for name, value in server.focal_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        resolver = ModelResolver(
            registry, catalogs, OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
        )
        clock = Clock()
        rig = Rig(server=server, executor=None, clock=clock)  # type: ignore[arg-type]

        async def sleep(seconds: float) -> None:
            rig.sleeps.append(seconds)

        caller = AgnoExecutor(registry)  # the real provider models

        def build(budgets: BudgetManager | None = None) -> ResilientExecutor:
            return ResilientExecutor(
                caller,
                resolver,
                retry=RetryPolicy(max_attempts=2, initial_delay=0.2, max_delay=5.0),
                breakers=CircuitBreakers(BreakerPolicy(failure_threshold=3, cooldown_seconds=30), clock=clock),
                budgets=budgets,
                recorder=rig.records.append,
                stall_timeout_seconds=0.5,
                sleep=sleep,
            )

        rig.executor, rig.build, rig.async_engine = build(), build, async_engine
        yield rig
        # close the SDKs' keep-alive clients while the loop runs (not in the garbage collector)
        templates = getattr(rig.executor.caller, "_templates", {})
        await close_clients(*(t.model for t in templates.values()))
    await async_engine.dispose()
    engine.dispose()


# --- a clean call -------------------------------------------------------------------------------


async def test_ok_through_real_sdk_prices_real_usage(rig: Rig) -> None:
    rig.server.script(Reply.ok("All good.", usage=(1200, 30, 1000)))
    response = await rig.call("plain")
    rig.check(response, requests=1, answered=SONNET, written=[ok(SONNET)], content="All good.")
    # Anthropic reports uncached input separately; Focal's input includes the cached part
    assert (response.usage.input, response.usage.cached_input, response.usage.output) == (1200, 1000, 30)
    assert response.cost == rig.executor.registry.estimate_cost(SONNET, 1200, 30, 1000)
    assert response.request_id == "req_1" and response.finish_reason == "end_turn"


@pytest.mark.parametrize("mode", MODES)
async def test_cache_writes_are_priced_at_the_cache_write_price(rig: Rig, mode: str) -> None:
    # 1,500 input tokens: 1,000 read from the prompt cache, 400 written to it, 100 plain
    rig.server.script(Reply.ok("Cached.", usage=(1500, 30, 1000, 0, 400)))
    outcome = await rig.call(mode)
    rig.check(outcome, requests=1, answered=SONNET, written=[ok(SONNET)], content="Cached.")
    response = outcome if mode == "plain" else outcome.final
    usage = response.usage
    assert (usage.input, usage.cached_input, usage.cache_write, usage.output) == (1500, 1000, 400, 30)
    # sonnet: 100 x $3 + 1,000 x $0.30 + 400 x $3.75 (cache write) + 30 x $15, per million
    assert response.cost == Decimal("0.00255")
    (record,) = rig.records
    assert (record.cost_usd, record.input_tokens, record.cached_input_tokens, record.cache_write_tokens) == (
        response.cost,
        1500,
        1000,
        400,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_clean_call_on_every_provider(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    rig.server.script(Reply.ok("A clean answer."))
    outcome = await rig.call(mode)
    rig.check(
        outcome, requests=1, answered=PRIMARY[provider], written=[ok(PRIMARY[provider])], content="A clean answer."
    )


# --- HTTP errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_with_retry_after_is_waited_then_retried(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.error(429, headers={"retry-after": "3"}), Reply.ok("after the wait"))
    outcome = await rig.call(mode)
    rig.check(outcome, requests=2, answered=p, written=[err(p, RLE), ok(p)], content="after the wait")
    assert rig.sleeps == [3.0]  # Retry-After honoured (the jittered back-off is at most 0.2 s)
    final = outcome.final if isinstance(outcome, StreamOutcome) else outcome
    assert final.attempts[0].status_code == 429


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_with_retry_after_past_the_max_delay_moves_to_the_next_hop(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    p, f = PRIMARY[provider], FALLBACK[provider]
    rig.server.script(Reply.rate_limited(retry_after="60"), Reply.ok("from the fallback"))
    outcome = await rig.call("plain")
    rig.check(outcome, requests=2, answered=f, written=[err(p, RLE), ok(f, hop=1, cause=RLE)])
    assert rig.sleeps == []  # never waits longer than max_delay (5 s)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_500_once_then_ok(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.error(500), Reply.ok("recovered"))
    outcome = await rig.call(mode)
    rig.check(outcome, requests=2, answered=p, written=[err(p, PU), ok(p)], content="recovered")
    final = outcome.final if isinstance(outcome, StreamOutcome) else outcome
    assert final.attempts[0].status_code == 500 and not final.fallback_used
    assert len(rig.sleeps) == 1 and 0 <= rig.sleeps[0] <= 0.2  # jittered back-off, not blocking the loop


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_503_with_fallbacks_answers_from_the_next_hop(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    p, f = PRIMARY[provider], FALLBACK[provider]
    rig.server.script(Reply.error(503), Reply.error(503), Reply.ok("from the fallback"))
    outcome = await rig.call("plain")
    rig.check(
        outcome,
        requests=3,
        answered=f,
        written=[err(p, PU), err(p, PU), ok(f, hop=1, cause=PU)],
        content="from the fallback",
    )
    assert outcome.fallback_used


async def test_503_for_a_while_opens_breaker_then_half_open_probe_closes_it(rig: Rig) -> None:
    rig.executor.fallback = FallbackPolicy(enabled=False)
    rig.executor.retry = RetryPolicy(max_attempts=1)
    for n in range(3):  # three failures within the window open anthropic:capable
        since = rig.mark()
        rig.server.script(Reply.error(503))
        state = "open" if n == 2 else "closed"
        rig.check(
            await rig.call("plain"),
            since=since,
            requests=1,
            answered=None,
            error=AllAttemptsFailedError,
            last_error=ProviderUnavailable,
            written=[err(SONNET, PU, breaker=state)],
        )
    breaker = rig.executor.breakers.get("anthropic:capable")
    assert breaker.state.value == "open"

    since = rig.mark()  # open: nothing is sent, the skip is recorded
    outcome = await rig.call("plain")
    rig.check(
        outcome,
        since=since,
        requests=0,
        answered=None,
        error=CircuitOpenError,
        written=[skipped(SONNET, hop=0, cause="circuit_open", breaker="open")],
    )
    assert outcome.keys == ["anthropic:capable"]

    rig.clock.now += 30  # cool-down over: one probe goes through and closes it
    assert breaker.state.value == "half_open"
    since = rig.mark()
    rig.server.script(Reply.ok("probe ok"))
    rig.check(
        await rig.call("plain"),
        since=since,
        requests=1,
        answered=SONNET,
        written=[ok(SONNET, breaker="closed")],
        content="probe ok",
    )
    assert breaker.state.value == "closed"


async def test_503_half_open_probe_that_fails_reopens_with_a_longer_cooldown(rig: Rig) -> None:
    rig.executor.fallback = FallbackPolicy(enabled=False)
    rig.executor.retry = RetryPolicy(max_attempts=1)
    rig.server.script(*[Reply.error(503)] * 3)
    for _ in range(3):
        await rig.call("plain")
    breaker = rig.executor.breakers.get("anthropic:capable")
    rig.clock.now += 30
    assert breaker.state.value == "half_open"

    since = rig.mark()  # the probe fails: open again
    rig.server.script(Reply.error(503))
    rig.check(
        await rig.call("plain"),
        since=since,
        requests=1,
        answered=None,
        error=AllAttemptsFailedError,
        last_error=ProviderUnavailable,
        written=[err(SONNET, PU, breaker="open")],
    )
    rig.clock.now += 30  # the first cool-down again is not enough: it was extended (x2)
    since = rig.mark()
    rig.check(
        await rig.call("plain"),
        since=since,
        requests=0,
        answered=None,
        error=CircuitOpenError,
        written=[skipped(SONNET, hop=0, cause="circuit_open", breaker="open")],
    )
    rig.clock.now += 30
    since = rig.mark()
    rig.server.script(Reply.ok("back"))
    rig.check(await rig.call("plain"), since=since, requests=1, answered=SONNET, written=[ok(SONNET, breaker="closed")])


@pytest.mark.parametrize("mode", MODES)
async def test_503_open_breaker_skips_straight_to_the_next_hop(rig: Rig, mode: str) -> None:
    rig.executor.retry = RetryPolicy(max_attempts=1)
    for _ in range(3):  # each call: sonnet fails, gpt-4o answers; the third failure opens sonnet's breaker
        since = rig.mark()
        rig.server.script(Reply.error(503), Reply.ok())
        rig.check(
            await rig.call(mode),
            since=since,
            requests=2,
            answered=GPT4O,
            written=[err(SONNET, PU), ok(GPT4O, hop=1, cause=PU)],
        )
    since = rig.mark()
    rig.server.script(Reply.ok("straight to gpt-4o"))
    rig.check(
        await rig.call(mode),
        since=since,
        requests=1,
        answered=GPT4O,
        written=[
            skipped(SONNET, hop=0, cause="circuit_open", breaker="open"),
            ok(GPT4O, hop=1, cause="circuit_open"),
        ],
        content="straight to gpt-4o",
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_401_no_retry_no_fallback_clear_error(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.error(401, message="invalid x-api-key"))
    outcome = await rig.call(mode)
    error = outcome.error if isinstance(outcome, StreamOutcome) else outcome
    rig.check(outcome, requests=1, answered=None, error=AuthenticationError, written=[err(p, AUTH)])
    assert "invalid x-api-key" in str(error) and error.status_code == 401 and not error.retryable
    assert error.provider == p.split("/")[0]
    assert rig.sleeps == []
    if isinstance(outcome, StreamOutcome):
        assert outcome.deltas == []


# --- transport faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_reset_is_retried(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.reset(), Reply.ok("second try"))
    outcome = await rig.call(mode)
    rig.check(outcome, requests=2, answered=p, written=[err(p, PU), ok(p)], content="second try")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_timeout_is_retried(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.hang(3.0), Reply.ok("in time"))
    outcome = await rig.call(mode)
    rig.check(outcome, requests=2, answered=p, written=[err(p, PTE), ok(p)], content="in time")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_answer_cut_mid_body_is_retried(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.cut(), Reply.ok("whole body"))
    outcome = await rig.call("plain")
    rig.check(outcome, requests=2, answered=p, written=[err(p, PU), ok(p)], content="whole body")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_answer_with_malformed_json_is_retried(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.malformed(), Reply.ok("well formed"))
    outcome = await rig.call("plain")
    rig.check(outcome, requests=2, answered=p, written=[err(p, PU), ok(p)], content="well formed")


# --- slow first token ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_slow_first_token_within_limits_completes(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.slow_first_token(0.3, "Slow but complete."))
    outcome = await rig.call(mode)
    rig.check(outcome, requests=1, answered=p, written=[ok(p)], content="Slow but complete.")
    if isinstance(outcome, StreamOutcome):
        assert outcome.final.time_to_first_token_ms >= 250
        assert rig.records[0].ttft_ms == outcome.final.time_to_first_token_ms


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_slow_first_token_past_the_timeout_fails_over_before_anything_is_sent(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    p, f = PRIMARY[provider], FALLBACK[provider]
    rig.server.script(Reply.slow_first_token(2.0), Reply.slow_first_token(2.0), Reply.ok("fast fallback"))
    outcome = await rig.call("stream")
    rig.check(
        outcome,
        requests=3,
        answered=f,
        written=[err(p, PTE), err(p, PTE), ok(f, hop=1, cause=PTE)],
        content="fast fallback",
    )


# --- damaged streams ----------------------------------------------------------------------------

TEXT = "One two three four five six seven eight."
AFTER_FIRST_TOKEN = {
    "cut-rst": Reply.cut(after_chunks=2, text=TEXT),
    "cut-fin": Reply.cut(after_chunks=2, text=TEXT, rst=False),
    "stall": Reply.stall(after_chunks=2, seconds=3.0, text=TEXT),
    "malformed": Reply.malformed(after_chunks=2, text=TEXT),
    "missing-terminator": Reply.no_terminator(text=TEXT),
    "error-event": Reply.error_event(after_chunks=2),
}


@pytest.mark.parametrize("fault", list(AFTER_FIRST_TOKEN))
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_fault_after_first_token_is_never_reported_complete(rig: Rig, provider: str, fault: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    reply = AFTER_FIRST_TOKEN[fault]
    rig.server.script(reply)
    outcome = await rig.call("stream")
    # no retry and no failover once tokens were sent: one request, one error record, a typed error
    # carrying exactly what the caller received (a strict prefix of the answer, unless only the
    # terminator was missing)
    rig.check(
        outcome,
        requests=1,
        answered=None,
        error=StreamInterruptedError,
        written=[err(p, SIE, billed=None)],  # what a cut stream is billed is not settled here
        partial=None if fault == "missing-terminator" else reply.text,
    )
    assert outcome.deltas, "the fault came after the first token"
    if fault == "missing-terminator":
        assert outcome.received == TEXT  # everything arrived, but the end marker did not: still not complete


@pytest.mark.parametrize("close", ["clean", "fin", "rst"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_stream_cut_after_the_finish_event_is_never_reported_complete(
    rig: Rig, provider: str, close: str
) -> None:
    # The whole answer and its finish reason arrived; the stream's end marker did not (OpenAI: the usage
    # chunk and [DONE]; Anthropic: message_stop). "clean": the body ended properly, so the SDK ended the
    # stream without an error and Agno reported a completed run with no usage -- it was a $0 success.
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.cut_after_finish(TEXT, close=close))
    outcome = await rig.call("stream")
    rig.check(outcome, requests=1, answered=None, error=StreamInterruptedError, written=[err(p, SIE, billed=None)])
    assert outcome.received == TEXT and outcome.final is None
    assert outcome.error.after_first_token and outcome.error.partial_content == TEXT


async def test_openai_stream_cut_after_the_finish_chunk_is_charged_not_settled_at_zero(rig: Rig) -> None:
    await rig.route("openai")
    budgets = await rig.with_budget()

    # a whole stream: the usage chunk after the finish chunk prices it, and the budget is charged that
    rig.server.script(Reply.ok(TEXT, usage=(42, 7, 0)))
    whole = await rig.call("stream")
    rig.check(whole, requests=1, answered=GPT4O, written=[ok(GPT4O)], content=TEXT)
    assert (whole.final.usage.input, whole.final.usage.output) == (42, 7)
    assert whole.final.cost == rig.executor.registry.estimate_cost(GPT4O, 42, 7) > 0
    (day,) = await budgets.status("acme")
    assert (day.spent_usd, day.reserved_usd) == (whole.final.cost, 0)

    # cut after the finish chunk: not a success at $0 -- a typed error, recorded, and charged by the
    # executor's rule for a stream cut after its first token (the record and the budget agree on it)
    since = rig.mark()
    rig.server.script(Reply.cut_after_finish(TEXT))
    outcome = await rig.call("stream")
    rig.check(
        outcome,
        since=since,
        requests=1,
        answered=None,
        error=StreamInterruptedError,
        written=[err(GPT4O, SIE, billed=None)],
    )
    assert outcome.received == TEXT and outcome.error.after_first_token
    record = rig.records[-1]
    assert record.status == "error" and record.error_class == SIE and record.streamed
    assert record.cost_usd > 0 and record.input_tokens > 0 and record.output_tokens > 0
    (day,) = await budgets.status("acme")
    assert day.reserved_usd == 0, "the attempt's reservation was settled"
    assert day.spent_usd - whole.final.cost == record.cost_usd > 0


BEFORE_FIRST_TOKEN = {
    "cut": (Reply.cut(after_chunks=0), SIE),
    "malformed": (Reply.malformed(after_chunks=0), SIE),
    "missing-terminator": (Reply.no_terminator(text=""), SIE),
}


@pytest.mark.parametrize("fault", list(BEFORE_FIRST_TOKEN))
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_fault_before_first_token_is_retried_then_fails_over(rig: Rig, provider: str, fault: str) -> None:
    await rig.route(provider)
    p, f = PRIMARY[provider], FALLBACK[provider]
    reply, error_class = BEFORE_FIRST_TOKEN[fault]
    rig.server.script(reply, reply, Reply.ok("clean answer"))
    outcome = await rig.call("stream")
    rig.check(
        outcome,
        requests=3,
        answered=f,
        written=[err(p, error_class), err(p, error_class), ok(f, hop=1, cause=error_class)],
        content="clean answer",
    )


async def test_stream_reset_before_first_token_fails_over(rig: Rig) -> None:
    rig.server.script(Reply.reset(), Reply.reset(), Reply.ok("clean answer"))
    outcome = await rig.call("stream")
    rig.check(
        outcome,
        requests=3,
        answered=GPT4O,
        written=[err(SONNET, PU), err(SONNET, PU), ok(GPT4O, hop=1, cause=PU)],
        content="clean answer",
    )


# --- context window -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_context_length_error_falls_back_to_a_bigger_window(rig: Rig, mode: str) -> None:
    # rule_filtering: openai/gpt-4o-mini (128k window) with fallback anthropic:cheap (200k)
    rig.server.script(Reply.context_window_exceeded(), Reply.ok("fits now"))
    outcome = await rig.call(mode, step="rule_filtering")
    rig.check(
        outcome,
        requests=2,  # not retried on the small model
        answered=HAIKU,
        written=[err(MINI, CWE), ok(HAIKU, hop=1, cause=CWE)],
        content="fits now",
    )
    assert rig.sleeps == []


@pytest.mark.parametrize(
    ("provider", "skips", "bigger"),
    [
        ("anthropic", [GPT4O, HAIKU], GPT41),  # 200k: gpt-4o (128k), haiku (200k) no bigger; gpt-4.1 (1M) added
        ("openai", [], SONNET),  # 128k: the next hop, sonnet (200k), is bigger already
        ("ollama", [GPT4O], GPT41),  # 131k: gpt-4o (128k) is smaller; gpt-4.1 (1M) added
    ],
)
async def test_context_length_error_skips_smaller_windows_and_adds_a_bigger_one(
    rig: Rig, provider: str, skips: list[str], bigger: str
) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.context_window_exceeded(), Reply.ok("fits now"))
    outcome = await rig.call("plain")
    written: list[Rec] = [
        err(p, CWE),
        *(skipped(m, hop=i + 1, cause=CWE) for i, m in enumerate(skips)),  # nothing sent to them
        ok(bigger, hop=len(skips) + 1, cause=CWE),
    ]
    rig.check(outcome, requests=2, answered=bigger, written=written, content="fits now")


# --- content filter -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["anthropic", "openai"])  # Ollama has no content-filter signal
async def test_content_filter_falls_back_and_is_recorded(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    p, f = PRIMARY[provider], FALLBACK[provider]
    rig.server.script(Reply.content_filter(), Reply.ok("a safe answer"))
    outcome = await rig.call(mode)
    rig.check(
        outcome,
        requests=2,  # a filtered answer is not retried on the same model
        answered=f,
        # the filtered answer is billed, streamed or not: the fake reports 42 tokens in, 7 out
        written=[err(p, CF, billed=(42, 7)), ok(f, hop=1, cause=CF)],
        content="a safe answer",
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_content_filter_without_fallback_is_a_typed_error(rig: Rig, provider: str, mode: str) -> None:
    await rig.route(provider)
    rig.executor.fallback = FallbackPolicy(on_content_filter=False)
    p = PRIMARY[provider]
    rig.server.script(Reply.content_filter())
    outcome = await rig.call(mode)
    rig.check(outcome, requests=1, answered=None, error=ContentFiltered, written=[err(p, CF, billed=(42, 7))])
    assert rig.records[0].cost_usd > 0


async def test_filtered_stream_cut_before_its_usage_is_charged_as_a_cut_stream(rig: Rig) -> None:
    await rig.route("openai")
    cut = dataclasses.replace(Reply.cut_after_finish("Here is how you would", close="clean"), filtered=True)
    rig.server.script(cut)
    outcome = await rig.call("stream")
    rig.check(outcome, requests=1, answered=None, error=StreamInterruptedError, written=[err(GPT4O, SIE, billed=None)])
    (record,) = rig.records
    # no usage arrived: the prompt and the partial answer are charged (estimated), never $0
    assert record.output_tokens == len("Here is how you would") // 3 + 1 and record.cost_usd > 0
    assert outcome.error.usage is not None and outcome.error.cost == record.cost_usd


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_content_filter_after_tokens_is_never_reported_complete(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.content_filter(text="Here is how you would"))
    outcome = await rig.call("stream")
    # the whole text arrived, then the provider said it filtered the answer: a damaged answer
    rig.check(outcome, requests=1, answered=None, error=StreamInterruptedError, written=[err(p, SIE, billed=(42, 7))])
    assert outcome.received == "Here is how you would"
    assert isinstance(outcome.error.__cause__, ContentFiltered)


# --- structured output: the provider's constrained decoding ------------------------------------------


class Verdict(BaseModel):
    compliant: bool
    reason: str


def _constrained_schema(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema the request asked the provider to decode into."""
    if provider == "openai":
        assert body["response_format"]["type"] == "json_schema"
        return body["response_format"]["json_schema"]["schema"]
    if provider == "anthropic":
        assert body["output_config"]["format"]["type"] == "json_schema"
        return body["output_config"]["format"]["schema"]
    return body["format"]  # ollama


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_structured_output_uses_constrained_decoding(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    rig.server.script(Reply.ok('{"compliant": true, "reason": "cites the policy"}'))
    verdict, response = await rig.executor.run_structured("Judge this reply.", Verdict, rig.ctx())
    assert verdict == Verdict(compliant=True, reason="cites the policy")
    assert response.model_id == PRIMARY[provider].split("/", 1)[1]
    (request,) = rig.server.requests
    schema = _constrained_schema(provider, request.json)
    assert set(schema["properties"]) == {"compliant", "reason"} and set(schema["required"]) == {"compliant", "reason"}


async def test_a_server_that_ignores_stream_options_needs_stream_usage_false(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenAI-compatible servers that send no usage chunk (older Azure api-versions, vLLM/TGI): by default
    their streams cannot be told from a cut one; `stream_usage: false` on the provider accepts them."""
    await rig.route("openai")
    rig.server.honours_stream_usage = False
    rig.server.script(Reply.ok("A complete answer."))
    strict = await rig.call("stream")
    rig.check(strict, requests=1, answered=None, error=StreamInterruptedError, written=[err(GPT4O, SIE, billed=None)])
    registry = rig.executor.registry
    relaxed = dataclasses.replace(registry.connection("openai"), stream_usage=False)
    monkeypatch.setitem(registry._connections, "openai", relaxed)  # the registry is shared: undone after
    rig.executor.caller._templates.clear()  # models are built per connection settings
    since = rig.mark()
    rig.server.script(Reply.ok("A complete answer."))
    outcome = await rig.call("stream")
    rig.check(outcome, since=since, requests=1, answered=GPT4O, written=[ok(GPT4O)], content="A complete answer.")
    # no usage came with it: the answer is priced from estimated counts (and says so), never at $0
    assert outcome.final.metadata["usage_estimated"] is True
    assert outcome.final.usage.output == len("A complete answer.") // 3 + 1 and outcome.final.cost > 0
    assert rig.records[-1].cost_usd == outcome.final.cost
