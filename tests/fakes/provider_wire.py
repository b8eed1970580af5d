"""The providers' wire formats the fake server speaks: answers, error bodies, stream events."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.provider_replies import ANTHROPIC, OLLAMA, OPENAI, Reply

__all__ = ["complete_body", "error_body", "error_event_chunk", "format_of", "malformed_chunk", "stream_events"]

# (OpenAI error type, Anthropic error type) per status, as the real APIs send them.
_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "authentication_error"),
    403: ("invalid_request_error", "permission_error"),
    404: ("invalid_request_error", "not_found_error"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
    500: ("server_error", "api_error"),
    503: ("server_error", "api_error"),
    529: ("server_error", "overloaded_error"),
}

_CONTEXT_MESSAGES = {
    OPENAI: "This model's maximum context length is 128000 tokens. However, your messages resulted in "
    "131072 tokens. Please reduce the length of the messages.",
    ANTHROPIC: "prompt is too long: 210000 tokens > 200000 maximum",
    OLLAMA: "the input length exceeds the context length",
}


# --- answers and errors ------------------------------------------------------------------------------


def format_of(path: str) -> str | None:
    if path in ("/v1/chat/completions", "/chat/completions"):
        return OPENAI
    if path in ("/v1/messages", "/messages"):
        return ANTHROPIC
    if path == "/api/chat":
        return OLLAMA
    return None


def error_body(fmt: str, reply: Reply) -> Any:
    openai_type, anthropic_type = _ERROR_TYPES.get(
        reply.status, ("server_error", "api_error") if reply.status >= 500 else ("invalid_request_error",) * 2
    )
    if reply.error_code == "context_length_exceeded" and reply.message is None:
        message = _CONTEXT_MESSAGES[fmt]
    else:
        message = reply.message or f"scripted failure (HTTP {reply.status})"
    if fmt == ANTHROPIC:
        return {"type": "error", "error": {"type": reply.error_type or anthropic_type, "message": message}}
    if fmt == OLLAMA:
        return {"error": message}
    return {
        "error": {"message": message, "type": reply.error_type or openai_type, "param": None, "code": reply.error_code}
    }


def complete_body(fmt: str, model: str, reply: Reply) -> Any:
    prompt, completion, cached, _ = reply.tokens()
    if fmt == ANTHROPIC:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.finish(fmt),
            "stop_sequence": None,
            "usage": {
                # Anthropic reports cache reads and writes apart from the (remaining) input
                "input_tokens": prompt - cached - reply.cache_writes(),
                "output_tokens": completion,
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": reply.cache_writes(),
            },
        }
    if fmt == OLLAMA:
        return {
            "model": model,
            "created_at": "2026-11-22T00:00:00Z",
            "message": {"role": "assistant", "content": reply.text},
            "done": True,
            "done_reason": reply.finish(fmt),
            "total_duration": 1_000_000,
            "load_duration": 1000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 1000,
            "eval_count": completion,
            "eval_duration": 1000,
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "logprobs": None,
                "finish_reason": reply.finish(fmt),
            }
        ],
        "usage": _openai_usage(reply),
        "system_fingerprint": "fp_fake",
    }


def _openai_usage(reply: Reply) -> dict[str, Any]:
    prompt, completion, cached, reasoning = reply.tokens()
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n".encode()


def stream_events(
    fmt: str, model: str, reply: Reply, include_usage: bool
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(preamble, content events, end events) as wire bytes."""
    prompt, completion, cached, _ = reply.tokens()
    pieces = reply.pieces()
    if fmt == ANTHROPIC:
        message: dict[str, Any] = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": prompt - cached - reply.cache_writes(),
                "output_tokens": 1,
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": reply.cache_writes(),
            },
        }
        lead = [
            _sse({"type": "message_start", "message": message}, "message_start"),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        content = [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                "content_block_delta",
            )
            for piece in pieces
        ]
        end = [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.finish(fmt), "stop_sequence": None},
                    "usage": {"output_tokens": completion},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return lead, content, end
    if fmt == OLLAMA:

        def line(data: dict[str, Any]) -> bytes:
            return (json.dumps(data) + "\n").encode()

        base = {"model": model, "created_at": "2026-11-22T00:00:00Z"}
        content = [line({**base, "message": {"role": "assistant", "content": p}, "done": False}) for p in pieces]
        last = complete_body(fmt, model, reply)
        last["message"] = {"role": "assistant", "content": ""}
        return [], content, [line(last)]

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        data = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_790_000_000,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return _sse(data)

    lead = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    content = [chunk({"content": piece}, None) for piece in pieces]
    end = [chunk({}, reply.finish(fmt))]
    if include_usage:
        end.append(
            _sse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1_790_000_000,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": _openai_usage(reply),
                }
            )
        )
    end.append(b"data: [DONE]\n\n")
    return lead, content, end


def malformed_chunk(fmt: str) -> bytes:
    if fmt == OLLAMA:
        return b"{not json\n"
    if fmt == ANTHROPIC:
        return b"event: content_block_delta\ndata: {not json\n\n"
    return b"data: {not json\n\n"


def error_event_chunk(fmt: str, reply: Reply) -> bytes:
    message = reply.message or "scripted in-stream error"
    if fmt == OLLAMA:
        return (json.dumps({"error": message}) + "\n").encode()
    if fmt == ANTHROPIC:
        return _sse({"type": "error", "error": {"type": reply.error_type, "message": message}}, "error")
    return _sse({"error": {"message": message, "type": reply.error_type, "param": None, "code": reply.error_type}})
