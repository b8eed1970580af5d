"""Every private detail of another library that Focal relies on, in one place.

Each item says why no public API serves. `tests/unit/providers/test_private_seams.py` checks each one
against the installed version and fails with a message naming the library and its version, so an upgrade
that changes one breaks loudly here, never quietly somewhere else (error mapping, billing, retries).

Everything else Focal needs from Agno, the provider SDKs and httpx goes through public API: model
constructor fields (`http_client`, `client_params`), httpx event hooks, `Agent(tool_hooks=...)`, the SDKs'
exported exception classes, `isinstance` on Agno's exported run and event classes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RAW_RESPONSE_HOOKS", "RawResponseSeam"]

RAW_RESPONSE_HOOKS = ("_parse_provider_response", "_parse_provider_response_delta")
"""Item 1: Agno's `Model._parse_provider_response(response, **kwargs)` and
`Model._parse_provider_response_delta(response)`.

Why: they are the only place where a model class sees the provider's raw answer (a `ChatCompletion`, an
Anthropic stream event, an Ollama `ChatResponse`) before Agno reduces it to text and token counts. The
finish reason (`length`, `content_filter`, `refusal`) and the stream's own end marker (the usage chunk,
`message_stop`, `done`) exist only there; they decide whether a streamed answer is complete and whether an
answer was filtered. Agno's public results (`RunOutput`, `ModelResponse`) carry neither. They are the
abstract methods every Agno model class implements, so overriding them in a subclass is how Agno itself
extends models; only their names are private."""


class RawResponseSeam:
    """Put before the Agno model class in the bases: hands each raw response and stream chunk to
    `_focal_response` / `_focal_chunk` (defined by the class that uses this seam), then lets Agno parse it."""

    def _focal_response(self, raw: Any) -> None:  # pragma: no cover - overridden
        pass

    def _focal_chunk(self, raw: Any) -> None:  # pragma: no cover - overridden
        pass

    def _parse_provider_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._focal_response(response)
        return super()._parse_provider_response(response, *args, **kwargs)  # type: ignore[misc]

    def _parse_provider_response_delta(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._focal_chunk(response)
        return super()._parse_provider_response_delta(response, *args, **kwargs)  # type: ignore[misc]
