"""OpenAI (Chat Completions) via Agno's `OpenAIChat`.

Raw objects Agno hands to Focal's hooks: `ainvoke` parses an `openai.types.chat.ChatCompletion`;
`ainvoke_stream` parses each
`openai.types.chat.ChatCompletionChunk`. Agno always streams with `stream_options.include_usage`, so a
whole stream is: content chunks, the chunk whose choice carries a `finish_reason`, a usage-only chunk
(no choices, `usage` set), then `data: [DONE]`, which the SDK consumes. The SDK ends a stream silently
when the body ends early, so `stream_terminated` is what tells -- and the end marker is the usage
chunk, not the finish_reason chunk: a stream that stops between the two has a finished answer but no
token counts, and passing it off as complete would price it at $0.

The SDK gets an HTTP client built by Focal (the SDK's own `DefaultAsyncHttpxClient`, passed through Agno's
`client_params`) carrying Focal's event hooks: response headers (status, `x-request-id`) are observed there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import openai
from agno.models.openai import OpenAIChat

from focal.providers._capture import ObservingMixin, ProviderHooks, http_event_hooks
from focal.providers._errors import classify
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalOpenAIChat", "build", "map_error"]

REQUEST_ID_HEADER = "x-request-id"


def _finish_reason(raw: Any) -> str | None:
    """ChatCompletion -> the finish_reason of its first choice."""
    choices = getattr(raw, "choices", None) or []
    return getattr(choices[0], "finish_reason", None) if choices else None


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    """ChatCompletionChunk -> (finish_reason, terminal).

    Terminal is the chunk carrying the usage: the usage-only chunk after the finish_reason chunk (no
    choices), or a finish_reason chunk that carries the usage itself (some OpenAI-compatible servers
    merge them). The finish_reason chunk alone is not the end: the usage chunk follows it. A content
    chunk with a usage (per-chunk usage stats, which Agno does not ask for) is not terminal either.
    """
    choices = getattr(raw, "choices", None) or []
    finish = getattr(choices[0], "finish_reason", None) if choices else None
    usage = getattr(raw, "usage", None)
    return finish, usage is not None and (not choices or finish is not None)


HOOKS = ProviderHooks(finish_reason=_finish_reason, chunk_info=_chunk_info)


def http_client(request_id_header: str | None = REQUEST_ID_HEADER) -> Any:
    """The OpenAI SDK's own async HTTP client class, with Focal's event hooks."""
    return openai.DefaultAsyncHttpxClient(event_hooks=http_event_hooks(request_id_header))


@dataclass
class FocalOpenAIChat(ObservingMixin, OpenAIChat):
    """`OpenAIChat` observed by Focal (errors, finish reason, request id, stream end)."""

    focal_hooks: ClassVar[ProviderHooks | None] = HOOKS


_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
"""OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...): they refuse `max_tokens` and any temperature."""


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """An `OpenAIChat` with the SDK's own retries off (Focal owns retries). Reasoning models get their
    output cap as `max_completion_tokens` and no temperature (OpenAI answers 400 to either otherwise)."""
    reasoning = _REASONING_MODEL.match(model.id) is not None
    built = FocalOpenAIChat(
        id=model.id,
        api_key=connection.api_key(),
        base_url=connection.base_url(),
        timeout=params.timeout_seconds or connection.timeout_seconds,
        max_retries=0,
        temperature=None if reasoning else params.temperature,
        max_tokens=None if reasoning else params.max_tokens,
        max_completion_tokens=params.max_tokens if reasoning else None,
        client_params={"http_client": http_client()},  # (Agno's `http_client` field takes httpx's, not httpx2's)
    )
    built.focal_finish_ends_stream = not connection.stream_usage
    built.focal_provider = model.provider
    return built


def map_error(exc: BaseException, model: ModelInfo, *, mid_stream: bool = False) -> ProviderError:
    """OpenAI SDK / Agno errors -> Focal's typed errors (see `focal.providers._errors.classify`).

    Agno raises `ModelProviderError(status_code=<HTTP status>)` for HTTP errors (a 429 too: it is not a
    `ModelRateLimitError` here), `ContextWindowExceededError` for code `context_length_exceeded`,
    `ModelProviderError(502)` for connection errors and timeouts (`openai.APIConnectionError` /
    `APITimeoutError` in `__cause__`), and for raw httpx errors / `json.JSONDecodeError` from a stream body.
    """
    return classify(
        exc,
        model,
        mid_stream=mid_stream,
        timeout_types=(openai.APITimeoutError,),
        connection_types=(openai.APIConnectionError,),
        sdk_error_types=(openai.APIError,),
    )
