"""Which raw stream chunk ends an OpenAI-protocol stream (`chunk_info`'s `terminal`), on the SDK's own
`ChatCompletionChunk` objects.

Agno streams OpenAI with `stream_options.include_usage`: content chunks, the finish_reason chunk, a
usage-only chunk (no choices), `[DONE]`. The usage chunk is the end marker: a stream that stops after
the finish_reason chunk has no token counts and must not pass for a complete, $0 answer. The local
llama.cpp server is not known to send the usage chunk, so there the finish_reason chunk still ends it.
"""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from focal.providers import _local, _openai


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


def test_local_llama_cpp_the_finish_chunk_still_ends_the_stream() -> None:
    info = _local.HOOKS.chunk_info
    assert info(CONTENT) == (None, False)
    assert info(FINISH) == ("stop", True)
    assert info(USAGE) == (None, False)
    assert _local.HOOKS.response_info is _openai.HOOKS.response_info
    assert _local.FocalLlamaCpp.focal_hooks is _local.HOOKS
