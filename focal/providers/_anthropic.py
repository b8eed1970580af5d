"""Anthropic via Agno's `Claude` (base URL and retries go through `client_params`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agno.models.anthropic import Claude

from focal.providers._capture import ObservingMixin
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection


@dataclass
class FocalClaude(ObservingMixin, Claude):
    """`Claude` observed by Focal (errors, finish reason, stream end)."""


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
