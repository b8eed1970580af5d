"""Errors of an LLM call.

- `FocalError`
  - `ExecutionError`: a call failed.
    - `ProviderError`: the provider (or the way to it) failed. Carries provider, model, status
      code and `retryable`; the retry policy decides on these attributes, never on message text.
      - `RateLimitError` (429; `retry_after` seconds when the provider said)
      - `ProviderTimeoutError` (the request or the stream timed out)
        - `DeadlineExceededError` (the per-call or per-turn deadline passed)
      - `ProviderUnavailable` (5xx, connection refused / reset)
      - `AuthenticationError` (401 / 403; never retried, never falls back)
      - `ContextWindowExceeded` (the prompt does not fit; falls back to a larger window)
      - `ContentFiltered` (the provider refused or filtered the answer)
      - `BadRequestError` (other 4xx; never retried)
      - `StreamInterruptedError` (a stream was cut, stalled, malformed or unterminated)
    - `StructuredOutputError` (the answer did not validate against the schema, even after a re-ask)
    - `ToolTimeoutError` (the call's own tools ran past its timeout: not the provider's fault, not retried)
    - `CircuitOpenError` (every hop's breaker is open; nothing was sent)
    - `BudgetExceededError` (the tenant's budget or a cost limit refuses the call)
    - `BudgetUnavailableError` (the budget store could not be reached: the call is refused, fail closed)
    - `AllAttemptsFailedError` (every hop failed; `.attempts` lists them, `.last` is the final error)
  - `ConfigurationError` (a call cannot be made as configured: missing context, unknown model...)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from focal.errors import FocalError

__all__ = [
    "AllAttemptsFailedError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "CircuitOpenError",
    "ConfigurationError",
    "ContentFiltered",
    "ContextWindowExceeded",
    "DeadlineExceededError",
    "ExecutionError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailable",
    "RateLimitError",
    "StreamInterruptedError",
    "StructuredOutputError",
    "ToolTimeoutError",
]


class ExecutionError(FocalError):
    """An LLM call failed.

    `usage` (a `TokenUsage`) and `cost` (USD) are set when the failed attempt still consumed tokens the
    provider bills (an answer that did not validate, a filtered answer): budgets and telemetry charge them.
    """

    usage: Any = None
    cost: Decimal | None = None
    billed_model: str | None = None
    """`provider/model-id` of the attempt whose tokens `usage` counts, when it was billed."""
    tools_ran: bool = False
    """The failed attempt had already run some of the call's tools: it is not retried or failed over
    (another attempt would run them, and their side effects, again)."""


class ConfigurationError(FocalError):
    """The call cannot be made as configured (missing tenant/agent/step, unknown model, ...)."""


class ProviderError(ExecutionError):
    """The provider failed.

    Args:
        message: what happened.
        provider: provider name from the registry (e.g. `openai`).
        model: model id.
        status_code: HTTP status when there was one.
        retryable: whether trying the same model again may succeed.
        request_id: the provider's request id, when known.
    """

    default_retryable = False
    retry_after: float | None = None
    """Seconds the provider asked to wait before trying again (its `Retry-After`), on any status."""
    blames_provider: bool = True
    """Whether this failure says something about the provider's health (its breaker counts it). A
    timeout shorter than the provider's own configured one, asked for by a step or caller, does not."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        retryable: bool | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retryable = self.default_retryable if retryable is None else retryable
        self.request_id = request_id

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{where}: {self.message}{status}" if where else f"{self.message}{status}"


def _rebuild(cls: type[ProviderError], message: str, state: dict[str, Any]) -> ProviderError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class RateLimitError(ProviderError):
    """429 / overloaded. `retry_after` is the provider's hint in seconds, if any."""

    default_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderTimeoutError(ProviderError):
    """The request (or a stream) took longer than allowed."""

    default_retryable = True


class DeadlineExceededError(ProviderTimeoutError):
    """The call's or the turn's deadline passed; nothing more will be tried. The caller's deadline,
    not the provider's failure: it never counts against a breaker."""

    default_retryable = False
    blames_provider = False


class ProviderUnavailable(ProviderError):
    """5xx, or the connection was refused or reset."""

    default_retryable = True


class AuthenticationError(ProviderError):
    """401 / 403: the key is missing, wrong or not allowed. Never retried, never falls back."""


class ContextWindowExceeded(ProviderError):
    """The prompt does not fit the model's context window."""


class ContentFiltered(ProviderError):
    """The provider refused or filtered the answer."""


class BadRequestError(ProviderError):
    """Another 4xx: the request itself is wrong. Never retried."""


class StreamInterruptedError(ProviderError):
    """A stream was cut, stalled, sent a malformed chunk, or ended without its terminator.

    `partial_content` holds what arrived before the fault; it is never reported as complete.
    `after_first_token` says whether the caller had already received tokens.
    """

    default_retryable = True

    def __init__(
        self, message: str, *, partial_content: str = "", after_first_token: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.partial_content = partial_content
        self.after_first_token = after_first_token


class StructuredOutputError(ExecutionError):
    """The answer did not validate against the requested schema (after one re-ask).

    Args:
        message: the validation problem.
        raw_text: what the model returned.
        schema_name: the pydantic model's name.
    """

    def __init__(self, message: str, *, raw_text: str, schema_name: str) -> None:
        super().__init__(message)
        self.raw_text = raw_text
        self.schema_name = schema_name


class CircuitOpenError(ExecutionError):
    """Every hop's circuit breaker is open; no request was sent."""

    def __init__(self, message: str, *, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


class BudgetExceededError(ExecutionError):
    """The tenant's budget (or a run / step cost limit) does not allow this call."""

    def __init__(
        self,
        message: str,
        *,
        tenant_id: str,
        scope: str,
        limit_usd: Decimal | None = None,
        spent_usd: Decimal | None = None,
        estimate_usd: Decimal | None = None,
    ) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.scope = scope
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.estimate_usd = estimate_usd


class ToolTimeoutError(ExecutionError):
    """The call's timeout passed while its tools were running (no model request in flight).

    The provider is not blamed (no breaker failure) and the call is not retried or failed over:
    another attempt would run the same tools again.
    """

    tools_ran = True


class BudgetUnavailableError(ExecutionError):
    """The tenant's budgets could not be read or held (the database failed): nothing was sent.

    Budgets fail closed: a call whose spend cannot be held is refused, never let through unbudgeted.
    """

    def __init__(self, message: str, *, tenant_id: str) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id


class AllAttemptsFailedError(ExecutionError):
    """Every hop of the fallback chain failed. `attempts` lists each try; `last` is the final error."""

    def __init__(self, message: str, *, attempts: list[Any], last: BaseException | None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last = last
