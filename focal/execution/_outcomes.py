"""How attempts end: the `Attempt` entries, and the error raised when no hop answered."""

from __future__ import annotations

from focal.execution.errors import (
    AllAttemptsFailedError,
    BudgetExceededError,
    CircuitOpenError,
    DeadlineExceededError,
    ExecutionError,
)
from focal.execution.types import Attempt
from focal.routing import ModelInfo
from focal.telemetry.records import CallStatus


def attempt(
    model: ModelInfo,
    *,
    hop: int,
    number: int,
    status: str,
    cause: str | None,
    breaker_state: str | None,
    latency_ms: float = 0.0,
    error: BaseException | None = None,
    message: str | None = None,
) -> Attempt:
    """One `Attempt` entry; the error's class, text and HTTP status are copied when there is one."""
    return Attempt(
        model_ref=model.ref,
        provider=model.provider,
        tier=model.tier.value,
        hop=hop,
        attempt_number=number,
        status=status,
        error_class=type(error).__name__ if error is not None else None,
        error_message=message if message is not None else (str(error)[:500] if error is not None else None),
        status_code=getattr(error, "status_code", None),
        cause=cause,
        latency_ms=latency_ms,
        breaker_state=breaker_state,
    )


def exhausted_error(
    attempts: list[Attempt],
    last_error: BaseException | None,
    budget_error: BudgetExceededError | None,
    *,
    deadline_passed: bool = False,
) -> ExecutionError:
    """The error for a call no hop answered: `DeadlineExceededError` if the deadline is what ended it
    (whether or not a hop was left to fail over to), the budget refusal if nothing was sent for budget
    reasons, `CircuitOpenError` if every hop was skipped by its breaker, else `AllAttemptsFailedError`."""
    if isinstance(last_error, DeadlineExceededError) or deadline_passed:
        deadline = last_error if isinstance(last_error, DeadlineExceededError) else None
        if deadline is None:
            last = attempts[-1] if attempts else None
            deadline = DeadlineExceededError(
                "the turn deadline passed before the call could finish",
                provider=last.provider if last else None,
                model=last.model_ref.split("/", 1)[-1] if last else None,
            )
        deadline.attempts = list(attempts)  # type: ignore[attr-defined]
        return deadline
    tried = [a for a in attempts if a.status != CallStatus.SKIPPED]
    budget_skips = [a for a in attempts if a.status == CallStatus.SKIPPED and a.error_class]
    if not tried and budget_skips and budget_error is not None:
        budget_error.attempts = list(attempts)  # type: ignore[attr-defined]
        return budget_error
    if not tried:
        keys = sorted({f"{a.provider}:{a.tier}" for a in attempts})
        return CircuitOpenError(f"every hop's circuit breaker is open ({', '.join(keys)}); nothing was sent", keys=keys)
    last = next((a for a in reversed(attempts) if a.status == CallStatus.ERROR), None)
    summary = "; ".join(f"{a.model_ref}#{a.attempt_number}: {a.error_class or a.cause}" for a in attempts)
    detail = f"{last.error_class}: {last.error_message}" if last else "no attempt"
    return AllAttemptsFailedError(
        f"every hop failed ({summary}); last: {detail}", attempts=list(attempts), last=last_error
    )
