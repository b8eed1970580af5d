"""Fault injection: the call timeout bounds the whole response, a caller's deadline is not the
provider's failure, and a deadline ends a call with `DeadlineExceededError` however many hops are left."""

from __future__ import annotations

import pytest

from focal.execution import BreakerState, DeadlineExceededError, ExecutionContext, FallbackPolicy
from tests.fakes.outcomes import err, ok, run_outcome, stream_outcome
from tests.fakes.provider_server import Reply
from tests.integration.faults.rig import MODES, PRIMARY, PROVIDERS, PTE, Rig


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_body_dripping_past_the_call_timeout_times_out(rig: Rig, provider: str) -> None:
    # every read is quick (a byte per 0.1 s), the whole answer takes 3 s: the 1 s call timeout cuts it
    await rig.route(provider)
    p = PRIMARY[provider]
    await rig.call("plain")  # warm: the SDK client is built (an import can take a second on first use)
    since = rig.mark()
    rig.server.script(Reply.drip(3.0), Reply.ok("in time"))
    outcome = await rig.call("plain")
    rig.check(outcome, since=since, requests=2, answered=p, written=[err(p, PTE), ok(p)], content="in time")
    assert rig.records[since.records].latency_ms < 2000  # cut at the 1 s timeout, not after 3 s of body


async def call(rig: Rig, mode: str, ctx: ExecutionContext) -> tuple[str | None, BaseException | None]:
    """(the answer, the error) of one plain or streamed call with `ctx`."""
    if mode == "stream":
        streamed = await stream_outcome(rig.executor.stream("Tell me something.", ctx))
        return (streamed.final.content if streamed.final else None), streamed.error
    outcome = await run_outcome(rig.executor.run("Tell me something.", ctx))
    return (None, outcome) if isinstance(outcome, BaseException) else (outcome.content, None)


@pytest.mark.parametrize("mode", MODES)
async def test_an_impatient_callers_deadline_never_opens_the_providers_breaker(rig: Rig, mode: str) -> None:
    await rig.route("openai")
    for _ in range(4):  # more deadline misses than the breaker's failure threshold (3)
        rig.server.script(Reply.hang(1.0) if mode == "plain" else Reply.slow_first_token(1.0))
        _, error = await call(rig, mode, rig.ctx().with_deadline_in(0.15))
        assert isinstance(error, DeadlineExceededError), error
    breaker = rig.executor.breakers.get(rig.executor.registry.parse_ref(PRIMARY["openai"]).breaker_key)
    assert breaker.state is BreakerState.CLOSED  # the provider did nothing wrong
    assert {r.error_class for r in rig.records} == {"DeadlineExceededError"}
    rig.server.script(Reply.ok("patient"))  # a patient caller is served by the primary, not a fallback
    answer, error = await call(rig, mode, rig.ctx())
    assert (answer, error) == ("patient", None)
    assert rig.server.models_requested() == ["gpt-4o"] * 5


@pytest.mark.parametrize("fallback", [True, False])
async def test_a_deadline_ends_the_call_with_its_own_error_whatever_hops_are_left(rig: Rig, fallback: bool) -> None:
    await rig.route("openai")
    rig.executor.fallback = FallbackPolicy(enabled=fallback)
    rig.server.script(Reply.hang(1.0))
    _, error = await call(rig, "plain", rig.ctx().with_deadline_in(0.2))
    assert isinstance(error, DeadlineExceededError), error
    assert [a.error_class for a in error.attempts] == ["DeadlineExceededError"]  # type: ignore[attr-defined]
    assert len(rig.server.requests) == 1
