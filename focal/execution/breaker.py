"""Circuit breakers per `provider:tier`: closed → open → half-open (one probe) → closed or re-open.

Admission hands out a `BreakerTicket` stamped with the breaker's state generation (bumped on every
transition). A result reported with its ticket only counts if the ticket is still current: a request
admitted before the breaker opened cannot close it, and in half-open only the probe's own ticket decides.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from focal.execution.errors import (
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailable,
    RateLimitError,
    StreamInterruptedError,
)
from focal.logging import get_logger

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "BreakerTicket",
    "CircuitBreaker",
    "CircuitBreakers",
    "counts_against_breaker",
]

log = get_logger("focal.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """When a breaker opens and how long it stays open.

    Attributes:
        failure_threshold: failures within `window_seconds` that open the breaker when they come in
            a row, or...
        failure_ratio: ...when they are at least this share of the window's results, so a busy
            provider's scattered errors never open it while a flaky one (failing 2 in 3) does.
        window_seconds: the sliding window results are counted in.
        cooldown_seconds: how long it stays open before letting one probe through.
        cooldown_multiplier: each failed probe multiplies the cool-down (never shortens it).
        max_cooldown_seconds: cap on the extended cool-down.
    """

    failure_threshold: int = 5
    failure_ratio: float = 0.5
    window_seconds: float = 60.0
    cooldown_seconds: float = 30.0
    cooldown_multiplier: float = 2.0
    max_cooldown_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if not 0 < self.failure_ratio <= 1:
            raise ValueError("failure_ratio must be in (0, 1]")
        if self.cooldown_multiplier < 1:
            raise ValueError("cooldown_multiplier must be >= 1 (a re-open never shortens the cool-down)")


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerTicket:
    """Proof that one request was admitted by a breaker; hand it back with the request's result.

    Always truthy, so `if breaker.admit():` reads like `if breaker.allow():`.

    Attributes:
        breaker: the key of the breaker that issued it.
        generation: the breaker's state generation at admission (bumped on every state change).
        serial: unique per breaker, so two probes of one half-open period are told apart.
        probe: whether this request is the half-open probe.
    """

    breaker: str
    generation: int
    serial: int
    probe: bool = False

    def __bool__(self) -> bool:
        return True


def counts_against_breaker(error: BaseException) -> bool:
    """Provider-health failures count (5xx, connection, timeouts, 429, cut streams); caller mistakes
    don't, nor does a failure that does not blame the provider (`ProviderError.blames_provider`: a
    caller's deadline or own shorter timeout, even when it cut a stream): one impatient tenant must
    not open a healthy provider's breaker for every tenant."""
    if not getattr(error, "blames_provider", True):
        return False
    return isinstance(error, ProviderUnavailable | ProviderTimeoutError | RateLimitError | StreamInterruptedError) or (
        type(error) is ProviderError and (error.status_code or 0) >= 500
    )


Listener = Callable[[str, BreakerState, BreakerState], None]
_MAX_TRACKED_SUCCESSES = 10_000
"""Successes kept per window (a busy provider's oldest beyond this are dropped: the ratio only errs
towards opening, and only when failures number in the thousands)."""
_Result = Literal["success", "failure", "release"]


class CircuitBreaker:
    """One breaker. Not thread-safe by design: used from one event loop, no awaits inside.

    Use `admit()` → `record_success(ticket)` / `record_failure(ticket)` / `release_probe(ticket)`.
    Without a ticket (`allow()` and `ticket=None`) every result counts, whenever the request was admitted.
    """

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
        self._generation = 0
        self._serial = 0
        self._failures: deque[float] = deque()
        self._successes: deque[float] = deque(maxlen=_MAX_TRACKED_SUCCESSES)
        self._in_a_row = 0  # failures since the last success
        ratio = Fraction(self.policy.failure_ratio).limit_denominator(10_000)
        self._ratio = (ratio.numerator, ratio.denominator)  # exact: 7 failures in 100 is 0.07
        self._opened_at = 0.0
        self._cooldown = self.policy.cooldown_seconds
        self._probe: BreakerTicket | None = None

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

    @property
    def generation(self) -> int:
        """The state generation: bumped on every state change; tickets from an older one are stale."""
        return self._generation

    @property
    def probe_in_flight(self) -> bool:
        """Whether the half-open probe is out and has not reported back."""
        return self._probe is not None

    def admit(self) -> BreakerTicket | None:
        """Admit one request, or refuse it.

        Closed: every request is admitted. Open: none until the cool-down passed. Half-open: exactly one
        probe at a time.

        Returns:
            A ticket to pass to `record_success` / `record_failure` / `release_probe`, or None when refused.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return self._ticket(probe=False)
        if state is BreakerState.HALF_OPEN and self._probe is None:
            self._probe = self._ticket(probe=True)
            return self._probe
        return None

    def allow(self) -> bool:
        """Whether a request may go out now (`admit()` without the ticket). In half-open, one probe goes out.

        Returns:
            True when admitted. Prefer `admit()`: results reported without the ticket can't be told
            stale, so a late result from an older request is taken as the verdict.
        """
        return self.admit() is not None

    def record_success(self, ticket: BreakerTicket | None = None) -> None:
        """A request succeeded: the probe closes the breaker; in closed, it counts towards the window's ratio.

        Args:
            ticket: the request's ticket from `admit()`. A stale one (admitted before the last state
                change, or not the current probe) changes nothing. None: counts whatever the state.

        Raises:
            ValueError: the ticket was issued by another breaker.
        """
        if ticket is not None:
            if not self._is_current(ticket, "success"):
                return
            if ticket.probe:
                self._close()
            else:
                self._count_success()
            return
        if self._state is not BreakerState.CLOSED:
            self._close()
            return
        self._probe = None
        self._count_success()

    def record_failure(self, ticket: BreakerTicket | None = None) -> None:
        """A request failed: the failed probe re-opens with a longer cool-down; N failures in the window open.

        Args:
            ticket: the request's ticket from `admit()`. A stale one (admitted before the last state
                change, or not the current probe) changes nothing. None: counts whatever the state.

        Raises:
            ValueError: the ticket was issued by another breaker.
        """
        now = self._clock()
        if ticket is not None:
            if not self._is_current(ticket, "failure"):
                return
            if ticket.probe:
                self._reopen(now)
            else:
                self._count_failure(now)
            return
        if self._state is BreakerState.HALF_OPEN or self._probe is not None:
            self._reopen(now)
            return
        if self._state is BreakerState.OPEN:
            return
        self._count_failure(now)

    def release_probe(self, ticket: BreakerTicket | None = None) -> None:
        """The request ended without a verdict (cancelled, or a caller error): if it was the probe, free the slot.

        Args:
            ticket: the request's ticket from `admit()`; only the current probe's ticket frees the slot,
                any other ticket is a no-op. None: frees the slot whoever holds it.

        Raises:
            ValueError: the ticket was issued by another breaker.
        """
        if ticket is None or (self._is_current(ticket, "release") and ticket.probe):
            self._probe = None

    def _ticket(self, *, probe: bool) -> BreakerTicket:
        self._serial += 1
        return BreakerTicket(breaker=self.key, generation=self._generation, serial=self._serial, probe=probe)

    def _is_current(self, ticket: BreakerTicket, result: _Result) -> bool:
        """Whether `ticket` may still change the state: issued in this generation, and the probe in half-open."""
        if ticket.breaker != self.key:
            raise ValueError(f"ticket from breaker {ticket.breaker!r} passed to breaker {self.key!r}")
        current = ticket.generation == self._generation and (not ticket.probe or ticket == self._probe)
        if not current:
            log.debug(
                "breaker_stale_result_ignored",
                breaker=self.key,
                result=result,
                state=self._state.value,
                generation=self._generation,
                ticket_generation=ticket.generation,
                probe=ticket.probe,
            )
        return current

    def _count_success(self) -> None:
        self._in_a_row = 0
        self._successes.append(self._clock())

    def _count_failure(self, now: float) -> None:
        self._failures.append(now)
        horizon = now - self.policy.window_seconds
        for results in (self._failures, self._successes):
            while results and results[0] < horizon:
                results.popleft()
        self._in_a_row += 1
        failures, (num, den) = len(self._failures), self._ratio
        if failures >= self.policy.failure_threshold and (
            self._in_a_row >= self.policy.failure_threshold  # a provider that just went down
            or failures * den >= num * (failures + len(self._successes))  # a flaky one
        ):
            self._open(now)

    def _close(self) -> None:
        self._probe = None
        self._failures.clear()
        self._successes.clear()
        self._in_a_row = 0
        self._transition(BreakerState.CLOSED)
        self._cooldown = self.policy.cooldown_seconds

    def _reopen(self, now: float) -> None:
        self._probe = None
        self._cooldown = min(self._cooldown * self.policy.cooldown_multiplier, self.policy.max_cooldown_seconds)
        self._cooldown = max(self._cooldown, self.policy.cooldown_seconds)
        self._open(now)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._failures.clear()
        self._successes.clear()
        self._in_a_row = 0
        self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new:
            self._generation += 1
            log.info(
                "breaker_state_changed",
                breaker=self.key,
                old=old.value,
                new=new.value,
                cooldown_seconds=self._cooldown,
                generation=self._generation,
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
