"""Fault injection, HTTP errors and clean calls, through the real SDKs (see `rig.py`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from focal.execution import (
    AllAttemptsFailedError,
    AuthenticationError,
    CircuitOpenError,
    FallbackPolicy,
    ProviderUnavailable,
    RetryPolicy,
)
from tests.fakes.outcomes import (
    StreamOutcome,
    err,
    ok,
    skipped,
)
from tests.fakes.provider_server import Reply
from tests.integration.faults.rig import (
    AUTH,
    FALLBACK,
    GPT4O,
    MODES,
    PRIMARY,
    PROVIDERS,
    PTE,
    PU,
    RLE,
    SONNET,
    Rig,
)

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


@pytest.mark.parametrize(("status", "error_class"), [(429, RLE), (503, PU), (408, PTE)])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_retry_after_is_waited_then_retried(
    rig: Rig, provider: str, mode: str, status: int, error_class: str
) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(Reply.error(status, headers={"retry-after": "3"}), Reply.ok("after the wait"))
    outcome = await rig.call(mode)
    rig.check(outcome, requests=2, answered=p, written=[err(p, error_class), ok(p)], content="after the wait")
    assert rig.sleeps == [3.0]  # Retry-After honoured on any retryable status (the back-off is at most 0.2 s)
    final = outcome.final if isinstance(outcome, StreamOutcome) else outcome
    assert final.attempts[0].status_code == status


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


@pytest.mark.parametrize(("ref", "reasoning"), [("openai:premium", True), ("openai:capable", False)])
async def test_openai_reasoning_models_get_max_completion_tokens_and_no_temperature(
    rig: Rig, ref: str, reasoning: bool
) -> None:
    await rig.executor.resolver.overrides.aset("acme", "support", "generation", ref)  # the step: 800 tokens, 0.4
    rig.server.script(Reply.ok("thought it through"))
    response = await rig.executor.run("Tell me something.", rig.ctx())
    assert response.content == "thought it through"
    (sent,) = rig.server.requests
    caps = {k: sent.json.get(k) for k in ("max_tokens", "max_completion_tokens", "temperature")}
    if reasoning:  # o1 answers 400 to max_tokens or a temperature
        assert sent.model == "o1" and caps == {"max_tokens": None, "max_completion_tokens": 800, "temperature": None}
    else:
        assert sent.model == "gpt-4o" and caps == {"max_tokens": 800, "max_completion_tokens": None, "temperature": 0.4}
