"""Ollama via Agno's `Ollama` (reached by `host`; has no SDK retries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agno.models.ollama import Ollama

from focal.providers._capture import ObservingMixin
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection


@dataclass
class FocalOllama(ObservingMixin, Ollama):
    """`Ollama` observed by Focal (errors, finish reason, stream end)."""


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """An `Ollama` model; temperature and max tokens go into `options`."""
    options: dict[str, Any] = {}
    if params.temperature is not None:
        options["temperature"] = params.temperature
    if params.max_tokens is not None:
        options["num_predict"] = params.max_tokens
    return FocalOllama(
        id=model.id,
        host=connection.base_url(),
        api_key=connection.api_key(),
        timeout=params.timeout_seconds or connection.timeout_seconds,
        options=options or None,
    )
