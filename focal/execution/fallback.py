"""`FallbackPolicy`: which hops a call may take after the resolved model, and when to move on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from focal.routing import ModelInfo, ModelRegistry

__all__ = ["FallbackPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackPolicy:
    """How a call falls back.

    The chain itself comes from the resolution: the tenant override's, else the agent catalog's,
    else the default (same tier on every other real provider, then one tier down on the same one —
    `focal.routing.default_fallback_chain`). Every hop taken is recorded with its cause.

    Attributes:
        enabled: False keeps every call on its resolved model.
        max_hops: the most fallback hops after the resolved model (None: the whole chain).
        on_context_window: after a context-window error, skip hops whose window is not larger and,
            if none is left, add the nearest model with a larger window.
        on_content_filter: after a provider filtered the answer, move on to the next hop.
    """

    enabled: bool = True
    max_hops: int | None = None
    on_context_window: bool = True
    on_content_filter: bool = True

    def __post_init__(self) -> None:
        if self.max_hops is not None and self.max_hops < 0:
            raise ValueError("max_hops must not be negative")

    def hops(self, model: ModelInfo, chain: Iterable[ModelInfo]) -> list[ModelInfo]:
        """`[model, *chain]`, cut to the policy (duplicates removed)."""
        if not self.enabled:
            return [model]
        out, seen = [model], {model.ref}
        for candidate in chain:
            if candidate.ref not in seen:
                seen.add(candidate.ref)
                out.append(candidate)
        return out if self.max_hops is None else out[: self.max_hops + 1]

    def larger_window(self, registry: ModelRegistry, model: ModelInfo, tried: Iterable[ModelInfo]) -> ModelInfo | None:
        """A model with a larger context window than `model`, not tried yet: same provider first,
        then the lowest tier (never below the model's), then the cheapest input price."""
        if not self.enabled or not self.on_context_window:
            return None
        seen = {m.ref for m in tried}
        candidates = [
            m
            for m in registry.models()
            if m.context_window > model.context_window and m.ref not in seen and m.tier >= model.tier
        ]
        if not candidates:
            return None
        return min(
            candidates, key=lambda m: (m.provider != model.provider, m.tier.rank, m.input_cost_per_million, m.ref)
        )
