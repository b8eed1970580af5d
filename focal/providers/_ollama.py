"""Ollama via Agno's `Ollama` (reached by `host`; has no SDK retries).

Raw objects Agno hands to Focal's hooks: `ainvoke` parses the `ollama.ChatResponse` of a non-streamed
chat; `ainvoke_stream` parses each streamed `ChatResponse`. The stream's end marker is the object with
`done: true` (it carries `done_reason`, `prompt_eval_count`, `eval_count`). Ollama sends no request id.
The client ends the iteration silently when the body ends without the `done` object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ollama
from agno.models.ollama import Ollama

from focal.providers._capture import ObservingMixin, ProviderHooks, http_event_hooks
from focal.providers._errors import classify
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalOllama", "build", "map_error"]


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else getattr(raw, key, None)


def _finish_reason(raw: Any) -> str | None:
    """ChatResponse -> its done_reason."""
    return _get(raw, "done_reason")


def _chunk_info(raw: Any) -> tuple[str | None, bool]:
    """Streamed ChatResponse -> (done_reason, terminal: `done` is true)."""
    return _get(raw, "done_reason"), bool(_get(raw, "done"))


HOOKS = ProviderHooks(finish_reason=_finish_reason, chunk_info=_chunk_info)


@dataclass
class FocalOllama(ObservingMixin, Ollama):
    """`Ollama` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[ProviderHooks | None] = HOOKS


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """An `Ollama` model; temperature and max tokens go into `options`."""
    options: dict[str, Any] = {}
    if params.temperature is not None:
        options["temperature"] = params.temperature
    if params.max_tokens is not None:
        options["num_predict"] = params.max_tokens
    built = FocalOllama(
        id=model.id,
        host=connection.base_url(),
        api_key=connection.api_key(),
        timeout=params.timeout_seconds or connection.timeout_seconds,
        options=options or None,
        client_params={"event_hooks": http_event_hooks()},  # `ollama.AsyncClient` hands kwargs to httpx
    )
    built.focal_provider = model.provider
    return built


def map_error(exc: BaseException, model: ModelInfo, *, mid_stream: bool = False) -> ProviderError:
    """Ollama errors -> Focal's typed errors (see `focal.providers._errors.classify`).

    Agno does not wrap them: `ollama.ResponseError` (`status_code` = the HTTP status; -1 for an error
    object inside a stream; the `HTTPStatusError` with the response headers is its `__context__`),
    builtin `ConnectionError` for a refused connection, raw `httpx` errors otherwise (reset, timeout,
    a body cut mid-stream), `json.JSONDecodeError` for a malformed line.
    """
    return classify(
        exc,
        model,
        mid_stream=mid_stream,
        connection_types=(ConnectionError,),
        sdk_error_types=(ollama.ResponseError,),
        status_types=(ollama.ResponseError,),
    )
