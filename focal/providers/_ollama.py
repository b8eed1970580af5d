"""Ollama via Agno's `Ollama` (reached by `host`; has no SDK retries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from agno.models.ollama import Ollama

from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._errors import classify
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection


@dataclass
class FocalOllama(ObservingMixin, Ollama):
    """`Ollama` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[Any] = None


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


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else getattr(raw, key, None)


def _response_info(raw: Any) -> tuple[str | None, str | None]:
    return _get(raw, "done_reason"), None


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    return _get(raw, "done_reason"), bool(_get(raw, "done"))  # `done: true` ends the stream


HOOKS = ProviderHooks(response_info=_response_info, chunk_info=_chunk_info)


def map_error(exc: BaseException, model: ModelInfo) -> Any:
    """Ollama errors (not wrapped by Agno: `ollama.ResponseError`, httpx errors) → Focal's typed errors."""
    return classify(exc, model, connection_types=(ConnectionError,))


FocalOllama.focal_hooks = HOOKS
