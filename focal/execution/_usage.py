"""Turn Agno's `RunMetrics` into a `TokenUsage` (input always includes cached tokens)."""

from __future__ import annotations

from typing import Any

from focal.execution.types import TokenUsage
from focal.routing import ProviderKind

# Anthropic reports input_tokens without cache reads and cache writes; the others include them.
_INPUT_EXCLUDES_CACHE = {ProviderKind.ANTHROPIC}


def usage_from_metrics(metrics: Any, kind: ProviderKind | None) -> TokenUsage:
    """Normalize `RunOutput.metrics` (None → zero usage)."""
    if metrics is None:
        return TokenUsage()
    input_tokens = int(getattr(metrics, "input_tokens", 0) or 0)
    cached = int(getattr(metrics, "cache_read_tokens", 0) or 0)
    cache_write = int(getattr(metrics, "cache_write_tokens", 0) or 0)
    if kind in _INPUT_EXCLUDES_CACHE:
        input_tokens += cached + cache_write
    return TokenUsage(
        input=input_tokens,
        output=int(getattr(metrics, "output_tokens", 0) or 0),
        cached_input=min(cached, input_tokens),
        reasoning=int(getattr(metrics, "reasoning_tokens", 0) or 0),
        cache_write=cache_write,
    )
