"""`RetryPolicy`: which errors are retried, and how long to wait (full jitter, Retry-After honoured)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from focal.execution.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFiltered,
    ContextWindowExceeded,
    DeadlineExceededError,
    ProviderError,
    StreamInterruptedError,
)

__all__ = ["RetryPolicy"]

_NEVER_RETRIED_STATUS = frozenset({400, 401, 403, 404, 413, 422})


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Retries on one model before moving to the next hop.

    Attributes:
        max_attempts: tries per hop, the first included (1 = no retry).
        initial_delay: seconds before the first retry (upper bound of its jitter).
        max_delay: cap on any single wait, Retry-After included; a longer Retry-After moves on
            to the next hop instead of waiting.
        exponential_base: growth of the delay cap per retry.
        jitter: full jitter (uniform between 0 and the cap) when True.
    """

    max_attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 20.0
    exponential_base: float = 2.0
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    @staticmethod
    def is_retryable(error: BaseException) -> bool:
        """Retry only 429, 5xx, timeouts, connection resets and cut streams — by type and status."""
        if not isinstance(error, ProviderError):
            return False
        if isinstance(error, AuthenticationError | BadRequestError | ContextWindowExceeded | ContentFiltered):
            return False
        if isinstance(error, DeadlineExceededError):
            return False
        if isinstance(error, StreamInterruptedError) and error.after_first_token:
            return False
        if error.status_code in _NEVER_RETRIED_STATUS:
            return False
        return error.retryable

    def delay(self, retry_number: int, error: BaseException | None = None) -> float | None:
        """Seconds to wait before retry `retry_number` (1-based); None when waiting exceeds `max_delay`.

        The provider's `Retry-After` (`ProviderError.retry_after`, on a 429, 503, 408...) is honoured
        as a minimum.
        """
        cap = min(self.max_delay, self.initial_delay * self.exponential_base ** (retry_number - 1))
        wait = self.rng.uniform(0, cap) if self.jitter else cap
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.max_delay:
                return None
            wait = max(wait, retry_after)
        return wait
