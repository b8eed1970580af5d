"""OpenAI (Chat Completions) via Agno's `OpenAIChat`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agno.models.openai import OpenAIChat

from focal.providers._capture import ObservingMixin
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection


@dataclass
class FocalOpenAIChat(ObservingMixin, OpenAIChat):
    """`OpenAIChat` observed by Focal (errors, finish reason, stream end)."""


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
