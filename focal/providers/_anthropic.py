"""Anthropic via Agno's `Claude` (base URL and retries go through `client_params`).

Raw objects Agno hands to Focal's hooks: `ainvoke` parses an `anthropic.types.Message` (`stop_reason`);
`ainvoke_stream` iterates the SDK's `MessageStream`, whose
events are the wire events (`message_start`, `content_block_start`, `content_block_delta`,
`content_block_stop`, `message_delta` with the `stop_reason`, `message_stop`) plus the SDK's own
accumulated `text` events. `message_stop` is the stream's end marker. The SDK ends the iteration silently
when the body ends without it.

The SDK gets an HTTP client built by Focal (the SDK's own `DefaultAsyncHttpxClient`, through Agno's
`http_client` field) carrying Focal's event hooks: response headers (status, `request-id`) are observed there.
A missing key is known before any request (neither `ANTHROPIC_API_KEY` nor an auth token): the model refuses
every request with `AuthenticationError` instead of letting the SDK fail with a `TypeError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import anthropic
from agno.models.anthropic import Claude

from focal.providers._capture import ObservingMixin, ProviderHooks, http_event_hooks
from focal.providers._errors import classify
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalClaude", "build", "map_error"]

REQUEST_ID_HEADER = "request-id"
AUTH_TOKEN_ENV = "ANTHROPIC_AUTH_TOKEN"


def _finish_reason(raw: Any) -> str | None:
    """Message -> its stop_reason."""
    return getattr(raw, "stop_reason", None)


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    """Stream event -> (stop_reason, terminal). `message_delta` carries the stop reason; only
    `message_stop` ends the stream."""
    kind = getattr(raw, "type", None)
    if kind == "message_delta":
        return getattr(getattr(raw, "delta", None), "stop_reason", None), False
    if kind == "message_stop":
        return getattr(getattr(raw, "message", None), "stop_reason", None), True
    return None, False


HOOKS = ProviderHooks(finish_reason=_finish_reason, chunk_info=_chunk_info)


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
    api_key = connection.api_key()
    auth_token = os.environ.get(AUTH_TOKEN_ENV) or None
    built = FocalClaude(
        id=model.id,
        api_key=api_key,
        auth_token=auth_token,
        timeout=params.timeout_seconds or connection.timeout_seconds,
        temperature=params.temperature,
        max_tokens=max_tokens,
        client_params=client_params,
        http_client=anthropic.DefaultAsyncHttpxClient(event_hooks=http_event_hooks(REQUEST_ID_HEADER)),
    )
    built.focal_provider = model.provider
    if not api_key and not auth_token:
        where = connection.api_key_env or "the provider's api_key_env"
        built.focal_missing_credentials = f"no Anthropic API key ({where}) or auth token ({AUTH_TOKEN_ENV}) is set"
    return built


def map_error(exc: BaseException, model: ModelInfo, *, mid_stream: bool = False) -> ProviderError:
    """Anthropic SDK / Agno errors -> Focal's typed errors (see `focal.providers._errors.classify`).

    Agno raises `ModelRateLimitError` for 429 and 529 (overloaded) -- and for an `overloaded_error`
    event inside a stream, with status 200 --, `ModelProviderError(status_code=<HTTP status>)` for other
    HTTP errors (a context-window 400 is not classified: only the message says "prompt is too long"),
    and `ModelProviderError(502)` for connection errors, timeouts, raw httpx2 / JSON errors from a stream
    body. A missing key never reaches the SDK (see `build`).
    """
    return classify(
        exc,
        model,
        mid_stream=mid_stream,
        timeout_types=(anthropic.APITimeoutError,),
        connection_types=(anthropic.APIConnectionError,),
        sdk_error_types=(anthropic.APIError,),
    )
