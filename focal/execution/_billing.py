"""What an attempt that did not answer is charged: the budget and its call record agree on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from focal.execution.budgets import estimate_call_cost, estimate_prompt_tokens, estimate_text_tokens
from focal.execution.errors import StreamInterruptedError
from focal.execution.types import Message, TokenUsage
from focal.routing import ModelInfo, ModelRegistry

__all__ = ["abandoned_charge", "failure_charge"]

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


def abandoned_charge(
    registry: ModelRegistry,
    model: ModelInfo,
    messages: Sequence[Message],
    instructions: str | None,
    max_tokens: int,
    reserved: Decimal | None,
) -> tuple[Decimal, TokenUsage]:
    """The cost of an attempt its caller walked away from after it was sent: unknown, so the worst
    case (what was reserved for it, else the same estimate a reservation would have made), and the
    tokens that worst case prices (the estimated prompt and the whole output cap)."""
    worst = TokenUsage(input=estimate_prompt_tokens(messages, instructions), output=max_tokens)
    if reserved:
        return reserved, worst
    return estimate_call_cost(registry, model, messages, max_tokens, instructions), worst
