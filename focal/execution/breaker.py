"""Circuit breakers per `provider:tier`: closed → open → half-open (one probe) → closed or re-open."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from focal.execution.errors import (
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailable,
    RateLimitError,
    StreamInterruptedError,
)
from focal.logging import get_logger

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "CircuitBreakers", "counts_against_breaker"]

log = get_logger("focal.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """When a breaker opens and how long it stays open.

    Attributes:
        failure_threshold: failures within `window_seconds` that open the breaker.
        window_seconds: the sliding window failures are counted in.
        cooldown_seconds: how long it stays open before letting one probe through.
        cooldown_multiplier: each failed probe multiplies the cool-down (never shortens it).
        max_cooldown_seconds: cap on the extended cool-down.
    """

    failure_threshold: int = 5
    window_seconds: float = 60.0
    cooldown_seconds: float = 30.0
    cooldown_multiplier: float = 2.0
    max_cooldown_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.cooldown_multiplier < 1:
            raise ValueError("cooldown_multiplier must be >= 1 (a re-open never shortens the cool-down)")


def counts_against_breaker(error: BaseException) -> bool:
    """Provider-health failures count (5xx, connection, timeouts, 429, cut streams); caller mistakes don't."""
    return isinstance(error, ProviderUnavailable | ProviderTimeoutError | RateLimitError | StreamInterruptedError) or (
        type(error) is ProviderError and (error.status_code or 0) >= 500
    )


Listener = Callable[[str, BreakerState, BreakerState], None]


class CircuitBreaker:
    """One breaker. Not thread-safe by design: used from one event loop, no awaits inside."""

    def __init__(
        self,
        key: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Listener | None = None,
    ) -> None:
        self.key = key
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._cooldown = self.policy.cooldown_seconds
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose cool-down passed reads as half-open)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._cooldown:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    @property
    def cooldown(self) -> float:
        """The current cool-down in seconds."""
        return self._cooldown

    def allow(self) -> bool:
        """Whether a request may go out now. In half-open, exactly one probe is let through."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        """A request succeeded: a probe closes the breaker; failures are forgotten."""
        if self._state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED)
            self._cooldown = self.policy.cooldown_seconds
        self._probe_in_flight = False
        self._failures.clear()

    def record_failure(self) -> None:
        """A request failed: a failed probe re-opens with a longer cool-down; N failures in the window open."""
        now = self._clock()
        if self._state is BreakerState.HALF_OPEN or self._probe_in_flight:
            self._probe_in_flight = False
            self._cooldown = min(self._cooldown * self.policy.cooldown_multiplier, self.policy.max_cooldown_seconds)
            self._cooldown = max(self._cooldown, self.policy.cooldown_seconds)
            self._open(now)
            return
        if self._state is BreakerState.OPEN:
            return
        self._failures.append(now)
        horizon = now - self.policy.window_seconds
        while self._failures and self._failures[0] < horizon:
            self._failures.popleft()
        if len(self._failures) >= self.policy.failure_threshold:
            self._open(now)

    def release_probe(self) -> None:
        """The probe ended without a verdict (e.g. cancelled, or a caller error): let another probe through."""
        self._probe_in_flight = False

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._failures.clear()
        self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new:
            log.info(
                "breaker_state_changed", breaker=self.key, old=old.value, new=new.value, cooldown_seconds=self._cooldown
            )
            if self._on_change is not None:
                self._on_change(self.key, old, new)


class CircuitBreakers:
    """The breakers of a process, one per `provider:tier` key."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Listener | None = None,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._on_change = on_change
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, key: str) -> CircuitBreaker:
        """The breaker for `key`, created closed on first use."""
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(key, self.policy, clock=self._clock, on_change=self._on_change)
            self._breakers[key] = breaker
        return breaker

    def states(self) -> dict[str, BreakerState]:
        """Every known breaker's state."""
        return {key: b.state for key, b in self._breakers.items()}
