"""OpenAI (Chat Completions) via Agno's `OpenAIChat`.

Raw objects Agno hands to Focal's hooks: `ainvoke` parses an `openai.types.chat.ChatCompletion`
(`_request_id` from the `x-request-id` header); `ainvoke_stream` parses each
`openai.types.chat.ChatCompletionChunk`. The stream's end marker is the chunk whose choice carries a
`finish_reason`; with `stream_options.include_usage` (Agno always asks) a usage-only chunk with no
choices follows it, then `data: [DONE]`, which the SDK consumes. The SDK ends a stream silently when the
body ends without `[DONE]` or without a finish_reason chunk, so `stream_terminated` is what tells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import openai
from agno.models.openai import OpenAIChat

from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._errors import classify
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalOpenAIChat", "build", "map_error"]

REQUEST_ID_HEADER = "x-request-id"


def _response_info(raw: Any) -> tuple[str | None, str | None]:
    """ChatCompletion -> (finish_reason of the first choice, request id)."""
    choices = getattr(raw, "choices", None) or []
    finish = getattr(choices[0], "finish_reason", None) if choices else None
    return finish, getattr(raw, "_request_id", None)


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    """ChatCompletionChunk -> (finish_reason, terminal). The finish_reason chunk ends the answer; the
    usage-only chunk after it (no choices) is neither."""
    choices = getattr(raw, "choices", None) or []
    finish = getattr(choices[0], "finish_reason", None) if choices else None
    return finish, finish is not None


HOOKS = ProviderHooks(response_info=_response_info, chunk_info=_chunk_info, request_id_header=REQUEST_ID_HEADER)


@dataclass
class FocalOpenAIChat(ObservingMixin, OpenAIChat):
    """`OpenAIChat` observed by Focal (errors, finish reason, request id, stream end)."""

    focal_hooks: ClassVar[ProviderHooks | None] = HOOKS


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """An `OpenAIChat` with the SDK's own retries off (Focal owns retries)."""
    return FocalOpenAIChat(
        id=model.id,
        api_key=connection.api_key(),
        base_url=connection.base_url(),
        timeout=params.timeout_seconds or connection.timeout_seconds,
        max_retries=0,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
    )


def map_error(exc: BaseException, model: ModelInfo) -> ProviderError:
    """OpenAI SDK / Agno errors -> Focal's typed errors (see `focal.providers._errors.classify`).

    Agno raises `ModelProviderError(status_code=<HTTP status>)` for HTTP errors (a 429 too: it is not a
    `ModelRateLimitError` here), `ContextWindowExceededError` for code `context_length_exceeded`,
    `ModelProviderError(502)` for connection errors and timeouts (`openai.APIConnectionError` /
    `APITimeoutError` in `__cause__`), and for raw httpx errors / `json.JSONDecodeError` from a stream body.
    """
    return classify(
        exc,
        model,
        timeout_types=(openai.APITimeoutError,),
        connection_types=(openai.APIConnectionError,),
        sdk_error_types=(openai.APIError,),
    )
