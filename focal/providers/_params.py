"""Per-call model parameters shared by every provider module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class CallParams:
    """What a step asks of the model; None leaves the provider's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    timeout_seconds: float | None = None
