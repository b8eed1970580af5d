"""Token and cost estimates behind reservations: deliberately generous, so a reservation bounds the call."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from focal.execution.types import Message
from focal.routing import ModelInfo, ModelRegistry

__all__ = ["estimate_call_cost", "estimate_prompt_tokens", "estimate_text_tokens"]


def _token_bound(text: str) -> int:
    """Tokens `text` may take: 1 per 3 ASCII characters (English prose and code run at about 4), and
    1 per UTF-8 byte of everything else. A provider's byte-level tokenizer never makes more tokens of a
    character than its bytes, so CJK text (~1-2 tokens a character, 3 bytes) and emoji stay bounded."""
    if text.isascii():
        return len(text) // 3
    ascii_chars = len(text.encode("ascii", "ignore"))
    return ascii_chars // 3 + len(text.encode("utf-8", "surrogatepass")) - ascii_chars


def estimate_text_tokens(text: str) -> int:
    """A deliberately generous token estimate of generated text (see `_token_bound`; at least 1)."""
    return _token_bound(text) + 1


def estimate_prompt_tokens(messages: Sequence[Message], instructions: str | None = None) -> int:
    """A deliberately generous token estimate of a prompt: its text (see `_token_bound`) + 8 per message."""
    text_tokens = sum(_token_bound(m.content) for m in messages) + _token_bound(instructions or "")
    return text_tokens + 8 * (len(messages) + 1)


def estimate_call_cost(
    registry: ModelRegistry,
    model: ModelInfo,
    messages: Sequence[Message],
    max_tokens: int | None,
    instructions: str | None = None,
) -> Decimal:
    """Upper-bound cost of a call: estimated prompt tokens + the max output tokens."""
    output = max_tokens or model.max_output_tokens
    return registry.estimate_cost(model, estimate_prompt_tokens(messages, instructions), output)
