"""Fault injection, transport faults, slow first tokens and damaged streams (see `rig.py`)."""

from __future__ import annotations

import pytest

from focal.execution import (
    StreamInterruptedError,
)
from tests.fakes.outcomes import (
    StreamOutcome,
    err,
    ok,
)
from tests.fakes.provider_server import Reply
from tests.integration.faults.rig import (
    FALLBACK,
    GPT4O,
    MODES,
    PRIMARY,
    PROVIDERS,
    PTE,
    PU,
    SIE,
    SONNET,
    Rig,
)

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


@pytest.mark.parametrize("fault", ["cut", "malformed"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_answer_with_a_damaged_body_is_retried(rig: Rig, provider: str, fault: str) -> None:
    await rig.route(provider)
    p = PRIMARY[provider]
    rig.server.script(getattr(Reply, fault)(), Reply.ok("whole body"))
    outcome = await rig.call("plain")
    rig.check(outcome, requests=2, answered=p, written=[err(p, PU), ok(p)], content="whole body")


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
