"""The local llama.cpp OpenAI-compatible server via Agno's `LlamaCpp`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from agno.models.llama_cpp import LlamaCpp

from focal.providers import _openai as openai_hooks
from focal.providers._capture import ObservingMixin
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection


@dataclass
class FocalLlamaCpp(ObservingMixin, LlamaCpp):
    """`LlamaCpp` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[Any] = None


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """A `LlamaCpp` model on the loopback server, SDK retries off."""
    return FocalLlamaCpp(
        id=model.id,
        base_url=connection.base_url() or "http://127.0.0.1:8080/v1",
        api_key=connection.api_key() or "not-needed",
        timeout=params.timeout_seconds or connection.timeout_seconds,
        max_retries=0,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
    )


HOOKS = openai_hooks.HOOKS


def map_error(exc: BaseException, model: ModelInfo) -> Any:
    """The llama.cpp server speaks OpenAI's protocol through the OpenAI SDK."""
    return openai_hooks.map_error(exc, model)


FocalLlamaCpp.focal_hooks = HOOKS
