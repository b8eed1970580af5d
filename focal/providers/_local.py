"""The local llama.cpp OpenAI-compatible server via Agno's `LlamaCpp` (the OpenAI SDK underneath).

Same wire format and raw objects as `_openai` (ChatCompletion / ChatCompletionChunk), so the same error
mapping and response hook apply. llama.cpp sends no request id header.

A stream's end marker: the usage chunk when the server sends one (`stream_usage: true` on the provider),
else the finish_reason chunk -- the default here, since llama-cpp-python's server has not always sent the
usage chunk Agno asks for (`stream_options.include_usage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from agno.models.llama_cpp import LlamaCpp

from focal.providers import _openai
from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalLlamaCpp", "build", "map_error"]


HOOKS = _openai.HOOKS


@dataclass
class FocalLlamaCpp(ObservingMixin, LlamaCpp):
    """`LlamaCpp` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[ProviderHooks | None] = HOOKS


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """A `LlamaCpp` model on the loopback server, SDK retries off."""
    built = FocalLlamaCpp(
        id=model.id,
        base_url=connection.base_url() or "http://127.0.0.1:8080/v1",
        api_key=connection.api_key() or "not-needed",
        timeout=params.timeout_seconds or connection.timeout_seconds,
        max_retries=0,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        client_params={"http_client": _openai.http_client(None)},
    )
    built.focal_finish_ends_stream = not connection.stream_usage
    built.focal_provider = model.provider
    return built


def map_error(exc: BaseException, model: ModelInfo, *, mid_stream: bool = False) -> ProviderError:
    """The llama.cpp server speaks OpenAI's protocol through the OpenAI SDK: OpenAI's mapping."""
    return _openai.map_error(exc, model, mid_stream=mid_stream)
