"""The local llama.cpp OpenAI-compatible server via Agno's `LlamaCpp` (the OpenAI SDK underneath).

Same wire format and raw objects as `_openai` (ChatCompletion / ChatCompletionChunk), so the same error
mapping and response hook apply. llama.cpp sends no request id header.

One difference: a stream's end marker is the finish_reason chunk, not the usage chunk that OpenAI sends
after it (Agno asks for one with `stream_options.include_usage`). The local server
(`python -m llama_cpp.server`, llama-cpp-python) is not known to send that separate usage-only chunk --
support for `stream_options` there was a pull request, and older servers sent no streamed usage at all --
so requiring it could fail every local stream. Left as it was until a real server is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from agno.models.llama_cpp import LlamaCpp

from focal.providers import _openai
from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalLlamaCpp", "build", "map_error"]


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    """ChatCompletionChunk -> (finish_reason, terminal): the finish_reason chunk ends the stream (see the
    module docstring); a usage-only chunk after it (no choices) is neither."""
    choices = getattr(raw, "choices", None) or []
    finish = getattr(choices[0], "finish_reason", None) if choices else None
    return finish, finish is not None


HOOKS = replace(_openai.HOOKS, chunk_info=_chunk_info)


@dataclass
class FocalLlamaCpp(ObservingMixin, LlamaCpp):
    """`LlamaCpp` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[ProviderHooks | None] = HOOKS


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


def map_error(exc: BaseException, model: ModelInfo) -> ProviderError:
    """The llama.cpp server speaks OpenAI's protocol through the OpenAI SDK: OpenAI's mapping."""
    return _openai.map_error(exc, model)
