"""OpenAI (Chat Completions) via Agno's `OpenAIChat`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import openai
from agno.models.openai import OpenAIChat

from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._errors import classify
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection


@dataclass
class FocalOpenAIChat(ObservingMixin, OpenAIChat):
    """`OpenAIChat` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[Any] = None


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


def _response_info(raw: Any) -> tuple[str | None, str | None]:
    choices = getattr(raw, "choices", None) or []
    finish = getattr(choices[0], "finish_reason", None) if choices else None
    return finish, getattr(raw, "_request_id", None)


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    choices = getattr(raw, "choices", None) or []
    finish = getattr(choices[0], "finish_reason", None) if choices else None
    return finish, finish is not None  # the finish_reason chunk is the stream's end marker


HOOKS = ProviderHooks(response_info=_response_info, chunk_info=_chunk_info)


def map_error(exc: BaseException, model: ModelInfo) -> Any:
    """OpenAI SDK / Agno errors → Focal's typed errors."""
    return classify(exc, model, timeout_types=(openai.APITimeoutError,), connection_types=(openai.APIConnectionError,))


FocalOpenAIChat.focal_hooks = HOOKS
