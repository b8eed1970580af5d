"""Anthropic via Agno's `Claude` (base URL and retries go through `client_params`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import anthropic
from agno.models.anthropic import Claude

from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._errors import classify
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection


@dataclass
class FocalClaude(ObservingMixin, Claude):
    """`Claude` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[Any] = None


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """A `Claude` with the SDK's own retries off (Focal owns retries)."""
    client_params: dict[str, Any] = {"max_retries": 0}
    base_url = connection.base_url()
    if base_url:
        client_params["base_url"] = base_url
    kwargs: dict[str, Any] = {}
    if params.max_tokens is not None:
        kwargs["max_tokens"] = params.max_tokens
    else:
        kwargs["max_tokens"] = min(model.max_output_tokens, 8192)
    return FocalClaude(
        id=model.id,
        api_key=connection.api_key(),
        timeout=params.timeout_seconds or connection.timeout_seconds,
        temperature=params.temperature,
        client_params=client_params,
        **kwargs,
    )


def _response_info(raw: Any) -> tuple[str | None, str | None]:
    return getattr(raw, "stop_reason", None), getattr(raw, "_request_id", None)


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    kind = getattr(raw, "type", None)
    if kind == "message_delta":
        return getattr(getattr(raw, "delta", None), "stop_reason", None), False
    return None, kind == "message_stop"  # message_stop is the stream's end marker


HOOKS = ProviderHooks(response_info=_response_info, chunk_info=_chunk_info)


def map_error(exc: BaseException, model: ModelInfo) -> Any:
    """Anthropic SDK / Agno errors → Focal's typed errors."""
    return classify(
        exc, model, timeout_types=(anthropic.APITimeoutError,), connection_types=(anthropic.APIConnectionError,)
    )


FocalClaude.focal_hooks = HOOKS
