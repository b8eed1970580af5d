"""Anthropic via Agno's `Claude` (base URL and retries go through `client_params`).

Raw objects Agno hands to Focal's hooks: `ainvoke` parses an `anthropic.types.Message` (`stop_reason`,
`_request_id` from the `request-id` header); `ainvoke_stream` iterates the SDK's `MessageStream`, whose
events are the wire events (`message_start`, `content_block_start`, `content_block_delta`,
`content_block_stop`, `message_delta` with the `stop_reason`, `message_stop`) plus the SDK's own
accumulated `text` events. `message_stop` is the stream's end marker. The SDK ends the iteration silently
when the body ends without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import anthropic
from agno.models.anthropic import Claude

from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._errors import classify, raised_in
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalClaude", "build", "map_error"]

REQUEST_ID_HEADER = "request-id"


def _response_info(raw: Any) -> tuple[str | None, str | None]:
    """Message -> (stop_reason, request id)."""
    return getattr(raw, "stop_reason", None), getattr(raw, "_request_id", None)


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    """Stream event -> (stop_reason, terminal). `message_delta` carries the stop reason; only
    `message_stop` ends the stream."""
    kind = getattr(raw, "type", None)
    if kind == "message_delta":
        return getattr(getattr(raw, "delta", None), "stop_reason", None), False
    if kind == "message_stop":
        return getattr(getattr(raw, "message", None), "stop_reason", None), True
    return None, False


HOOKS = ProviderHooks(response_info=_response_info, chunk_info=_chunk_info, request_id_header=REQUEST_ID_HEADER)


@dataclass
class FocalClaude(ObservingMixin, Claude):
    """`Claude` observed by Focal (errors, stop reason, request id, stream end)."""

    focal_hooks: ClassVar[ProviderHooks | None] = HOOKS


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """A `Claude` with the SDK's own retries off (Focal owns retries)."""
    client_params: dict[str, Any] = {"max_retries": 0}
    base_url = connection.base_url()
    if base_url:
        client_params["base_url"] = base_url
    max_tokens = params.max_tokens if params.max_tokens is not None else min(model.max_output_tokens, 8192)
    return FocalClaude(
        id=model.id,
        api_key=connection.api_key(),
        timeout=params.timeout_seconds or connection.timeout_seconds,
        temperature=params.temperature,
        max_tokens=max_tokens,
        client_params=client_params,
    )


def map_error(exc: BaseException, model: ModelInfo) -> ProviderError:
    """Anthropic SDK / Agno errors -> Focal's typed errors (see `focal.providers._errors.classify`).

    Agno raises `ModelRateLimitError` for 429 and 529 (overloaded) -- and for an `overloaded_error`
    event inside a stream, with status 200 --, `ModelProviderError(status_code=<HTTP status>)` for other
    HTTP errors (a context-window 400 is not classified: only the message says "prompt is too long"),
    and `ModelProviderError(502)` for connection errors, timeouts, raw httpx2 / JSON errors from a stream
    body, and the SDK's `TypeError` when no API key is configured (raised before any request).
    """
    if raised_in(exc, TypeError, "anthropic._client", "_validate_headers"):
        from focal.execution.errors import AuthenticationError

        return AuthenticationError(
            "no Anthropic API key or auth token is configured", provider=model.provider, model=model.id
        )
    return classify(
        exc,
        model,
        timeout_types=(anthropic.APITimeoutError,),
        connection_types=(anthropic.APIConnectionError,),
        sdk_error_types=(anthropic.APIError,),
    )
