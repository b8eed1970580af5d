"""Which raw stream chunk ends an OpenAI-protocol stream (`chunk_info`'s `terminal`), on the SDK's own
`ChatCompletionChunk` objects.

Agno streams OpenAI with `stream_options.include_usage`: content chunks, the finish_reason chunk, a
usage-only chunk (no choices), `[DONE]`. The usage chunk is the end marker: a stream that stops after
the finish_reason chunk has no token counts and must not pass for a complete, $0 answer. A provider whose
server ignores `stream_options` (`stream_usage: false`; the default for the local llama.cpp server) ends
at the finish_reason chunk instead.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from focal.providers import CallParams, _local, _openai
from focal.routing import ModelInfo, ProviderConnection, ProviderKind, Tier


def chunk(*, content: str | None = None, finish: str | None = None, usage: bool = False, choices: bool = True) -> Any:
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_790_000_000,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}] if choices else [],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49} if usage else None,
    }
    return ChatCompletionChunk.model_validate(data)


CONTENT = chunk(content="Hello")
FINISH = chunk(finish="stop")
USAGE = chunk(usage=True, choices=False)


def test_openai_the_usage_chunk_ends_the_stream_not_the_finish_chunk() -> None:
    info = _openai.HOOKS.chunk_info
    assert info(CONTENT) == (None, False)
    assert info(FINISH) == ("stop", False)  # the answer is finished; the stream is not
    assert info(USAGE) == (None, True)


@pytest.mark.parametrize("reason", ["stop", "length", "tool_calls", "content_filter"])
def test_openai_every_finish_reason_waits_for_the_usage_chunk(reason: str) -> None:
    assert _openai.HOOKS.chunk_info(chunk(finish=reason)) == (reason, False)


def test_openai_usage_on_the_finish_chunk_itself_ends_the_stream() -> None:
    # some OpenAI-compatible servers put the usage on the finish_reason chunk
    assert _openai.HOOKS.chunk_info(chunk(finish="stop", usage=True)) == ("stop", True)


def test_openai_a_content_chunk_with_usage_does_not_end_the_stream() -> None:
    # per-chunk usage stats (not asked for by Agno) must not end the stream at its first chunk
    assert _openai.HOOKS.chunk_info(chunk(content="Hel", usage=True)) == (None, False)


def _terminated_after(model: Any, *chunks: Any) -> bool:
    from focal.providers import observe_call

    with observe_call() as obs:
        for raw in chunks:
            model._focal_chunk(raw)
    return obs.stream_terminated


@pytest.mark.parametrize(
    ("module", "kind", "stream_usage", "finish_ends"),
    [
        ("_openai", ProviderKind.OPENAI, True, False),  # OpenAI sends the usage chunk: it is the end marker
        ("_openai", ProviderKind.OPENAI, False, True),  # a server that ignores stream_options: finish ends it
        ("_local", ProviderKind.LOCAL, False, True),  # llama.cpp by default
        ("_local", ProviderKind.LOCAL, True, False),
    ],
)
def test_the_end_marker_follows_the_providers_stream_usage_setting(
    module: str, kind: ProviderKind, stream_usage: bool, finish_ends: bool
) -> None:
    connection = ProviderConnection(name=kind.value, kind=kind, stream_usage=stream_usage)
    info = ModelInfo(
        id="m", provider=kind.value, tier=Tier.CHEAP, input_cost_per_million=Decimal(0),
        output_cost_per_million=Decimal(0), context_window=1000, max_output_tokens=100,
    )  # fmt: skip
    model = {"_openai": _openai, "_local": _local}[module].build(info, connection, CallParams())
    assert _terminated_after(model, CONTENT, FINISH) is finish_ends
    assert _terminated_after(model, CONTENT, FINISH, USAGE) is True  # a usage chunk always ends it


def test_stream_usage_defaults_per_provider_kind(registry: Any) -> None:
    assert registry.connection("openai").stream_usage is True
    assert registry.connection("local").stream_usage is False
