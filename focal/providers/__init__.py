"""Provider adapters: build the Agno model for a registry model (one module per provider, imported lazily)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from focal.errors import ConfigError
from focal.providers._capture import (
    CallObservation,
    ObservingMixin,
    ProviderHooks,
    current_observation,
    http_event_hooks,
    mark_tools_ran,
    observe_call,
)
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ModelRegistry, ProviderKind

if TYPE_CHECKING:  # focal.execution imports this package; import its errors lazily
    from focal.execution.errors import ProviderError

__all__ = [
    "CallObservation",
    "CallParams",
    "ObservingMixin",
    "ProviderHooks",
    "aclose_model",
    "build_model",
    "current_observation",
    "http_event_hooks",
    "map_error",
    "mark_tools_ran",
    "observe_call",
]

_MODULES = {
    ProviderKind.OPENAI: "focal.providers._openai",
    ProviderKind.ANTHROPIC: "focal.providers._anthropic",
    ProviderKind.OLLAMA: "focal.providers._ollama",
    ProviderKind.LOCAL: "focal.providers._local",
}


def build_model(model: ModelInfo, registry: ModelRegistry, params: CallParams | None = None) -> Any:
    """A fresh Agno `Model` for `model`, reaching its provider as configured (env overrides applied).

    The SDK's own retries are off: Focal's resilience layer owns retries.

    Raises:
        ConfigError: the provider's kind has no Agno model (e.g. `hybrid`, which only points at others).
    """
    connection = registry.connection(model.provider)
    module_name = _MODULES.get(connection.kind)
    if module_name is None:
        raise ConfigError(f"provider {model.provider!r} of kind {connection.kind.value!r} cannot build a model")
    return import_module(module_name).build(model, connection, params or CallParams())


def map_error(
    exc: BaseException, model: ModelInfo, registry: ModelRegistry, observation: CallObservation | None = None
) -> ProviderError:
    """Turn whatever a provider's Agno model raised into Focal's typed `ProviderError`.

    Each provider module owns its mapping (`map_error(exc, model, mid_stream=...)`); decisions use exception
    types, status codes and headers, never message text alone, and what Focal observed during the call
    (`observation`: whether the failure cut a streamed body).
    """
    from focal.execution.errors import ProviderError

    connection = registry.connection(model.provider)
    module_name = _MODULES.get(connection.kind)
    if module_name is None:
        return ProviderError(str(exc), provider=model.provider, model=model.id)
    mid_stream = observation is not None and observation.failed_mid_stream(exc)
    return import_module(module_name).map_error(exc, model, mid_stream=mid_stream)


async def aclose_model(model: Any) -> None:
    """Close the HTTP connections an Agno model's SDK clients opened (their public `close()`)."""
    for attribute in ("async_client", "client"):
        client = getattr(model, attribute, None)
        close = getattr(client, "close", None)
        if close is None:
            continue
        result = close()
        if hasattr(result, "__await__"):
            await result
