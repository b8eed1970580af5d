"""Fault injection, context-window and content-filter errors (see `rig.py`)."""

from __future__ import annotations

import dataclasses

import pytest

from focal.execution import (
    ContentFiltered,
    FallbackPolicy,
    StreamInterruptedError,
)
from tests.fakes.outcomes import (
    Rec,
    err,
    ok,
    skipped,
)
from tests.fakes.provider_server import Reply
from tests.integration.faults.rig import (
    CF,
    CWE,
    FALLBACK,
    GPT4O,
    GPT41,
    HAIKU,
    MINI,
    MODES,
    PRIMARY,
    SIE,
    SONNET,
    Rig,
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
