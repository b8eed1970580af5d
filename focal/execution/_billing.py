"""What an attempt that did not answer is charged: the budget and its call record agree on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from focal.execution._limits import Hold
from focal.execution.budgets import estimate_call_cost, estimate_prompt_tokens, estimate_text_tokens
from focal.execution.errors import StreamInterruptedError
from focal.execution.types import Message, TokenUsage
from focal.routing import ModelInfo, ModelRegistry

__all__ = ["failure_charge", "worst_case_charge"]

Pricer = Callable[[ModelInfo, TokenUsage], Decimal]


def failure_charge(
    err: BaseException, model: ModelInfo, price: Pricer, messages: Sequence[Message], instructions: str | None
) -> Decimal:
    """The cost of a failed attempt, set on `err` (`usage`, `cost`) when it is billed.

    Known usage (an answer that did not validate, a filtered answer) is priced by the adapter. A stream
    cut after its first token was billed for what it produced: the prompt and the partial answer,
    estimated generously (1 token per 3 characters). Anything else sent nothing billable: 0.
    """
    cost = getattr(err, "cost", None)
    if cost is None and isinstance(err, StreamInterruptedError) and err.after_first_token:
        usage = TokenUsage(
            input=estimate_prompt_tokens(messages, instructions), output=estimate_text_tokens(err.partial_content)
        )
        err.usage, err.cost = usage, price(model, usage)
        cost = err.cost
    return cost if cost is not None else Decimal(0)


def worst_case_charge(
    registry: ModelRegistry,
    model: ModelInfo,
    messages: Sequence[Message],
    instructions: str | None,
    max_tokens: int,
    hold: Hold | None,
) -> tuple[Decimal, TokenUsage]:
    """The cost of an attempt whose billed usage is unknown (its caller walked away after it was sent,
    or its tool loop was cut after some rounds answered): the worst case — what was held for it, its
    tool loop's later rounds included, else the estimate a reservation would have made — and the
    tokens that worst case prices (the savings baseline prices the same)."""
    worst = TokenUsage(input=estimate_prompt_tokens(messages, instructions), output=max_tokens)
    if hold is not None and hold.pending:
        return hold.estimate, hold.with_rounds(worst)
    return estimate_call_cost(registry, model, messages, max_tokens, instructions), worst
