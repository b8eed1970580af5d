"""The contracts of an LLM call: context, messages, usage, response, attempts, stream chunks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from focal._ids import new_id
from focal.execution.errors import ConfigurationError

__all__ = [
    "Attempt",
    "ExecutionContext",
    "LLMResponse",
    "Message",
    "Role",
    "StreamChunk",
    "TokenUsage",
    "to_messages",
]


class Role(StrEnum):
    """Message roles; nothing else is accepted."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message with a strict role."""

    role: Role
    content: str
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if type(self.role) is not Role:
            try:
                object.__setattr__(self, "role", Role(self.role))
            except ValueError:
                roles = ", ".join(r.value for r in Role)
                raise ConfigurationError(f"invalid message role {self.role!r} (roles: {roles})") from None
        if type(self.content) is not str and not isinstance(self.content, str):
            raise ConfigurationError(f"message content must be a string, got {type(self.content).__name__}")

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(Role.SYSTEM, content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(Role.USER, content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls(Role.ASSISTANT, content)


def to_messages(prompt: str | Message | Sequence[Message | dict[str, Any]]) -> tuple[Message, ...]:
    """Normalize a prompt string, a message, or a list of messages / {"role", "content"} dicts.

    Raises:
        ConfigurationError: an empty prompt, a bad role, or no user message.
    """
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ConfigurationError("the prompt is empty")
        return (Message(Role.USER, prompt),)
    if isinstance(prompt, Message):
        return (prompt,)
    out: list[Message] = []
    for i, item in enumerate(prompt):
        if isinstance(item, Message):
            out.append(item)
        elif isinstance(item, dict):
            unknown = set(item) - {"role", "content", "tool_call_id"}
            if unknown or "role" not in item or "content" not in item:
                raise ConfigurationError(f"messages[{i}] must have exactly 'role' and 'content' (got {sorted(item)})")
            out.append(Message(item["role"], item["content"], item.get("tool_call_id")))
        else:
            raise ConfigurationError(f"messages[{i}] must be a Message or a dict, got {type(item).__name__}")
    if not out:
        raise ConfigurationError("no messages given")
    if not any(m.role is Role.USER for m in out):
        raise ConfigurationError("the messages contain no user message")
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionContext:
    """Who a call is for and what it is part of. Tenant, agent and step are required for a call.

    The tenant comes from the host application, never from a model or a tool argument.

    Two clocks: `timeout_seconds` bounds each request to a provider (one attempt: a retry or a
    fallback hop gets a fresh one), while `deadline` (a `time.monotonic()` value, see
    `with_deadline_in`) bounds everything: no attempt, retry or back-off runs past it. To bound a
    whole call, give it a deadline.
    """

    tenant_id: str
    agent_id: str
    session_id: str | None = None
    workflow_name: str | None = None
    step_name: str | None = None
    task_type: str | None = None
    tier_hint: str | None = None
    provider_hint: str | None = None
    timeout_seconds: float | None = None
    deadline: float | None = None
    run_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def require_call_fields(self) -> None:
        """Raises ConfigurationError unless tenant, agent and step are set."""
        if self.tenant_id and self.agent_id and self.step_name:
            return
        missing = [name for name in ("tenant_id", "agent_id", "step_name") if not getattr(self, name)]
        if missing:
            raise ConfigurationError(f"ExecutionContext is missing {', '.join(missing)} (required for a call)")

    def with_deadline_in(self, seconds: float) -> ExecutionContext:
        """A copy whose turn deadline is `seconds` from now (or the existing one if sooner)."""
        candidate = time.monotonic() + seconds
        deadline = candidate if self.deadline is None else min(self.deadline, candidate)
        return replace(self, deadline=deadline)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenUsage:
    """Tokens of a call. `input` includes `cached_input`; `output` includes `reasoning`."""

    input: int = 0
    output: int = 0
    cached_input: int = 0
    reasoning: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        """input + output."""
        return self.input + self.output

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input=self.input + other.input,
            output=self.output + other.output,
            cached_input=self.cached_input + other.cached_input,
            reasoning=self.reasoning + other.reasoning,
            cache_write=self.cache_write + other.cache_write,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One try within a call: which model, how it ended, and why the next one happened."""

    model_ref: str
    provider: str
    tier: str
    hop: int
    attempt_number: int
    status: str
    """success | error | skipped"""
    error_class: str | None = None
    error_message: str | None = None
    status_code: int | None = None
    cause: str | None = None
    """Why this hop was tried (the previous hop's error class, or `circuit_open`)."""
    latency_ms: float = 0.0
    breaker_state: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMResponse:
    """The result of a call."""

    content: str
    model_id: str
    provider: str
    tier: str
    usage: TokenUsage
    cost: Decimal
    latency_ms: float
    time_to_first_token_ms: float | None = None
    request_id: str | None = None
    finish_reason: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    fallback_used: bool = False
    call_id: str = field(default_factory=new_id)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """A piece of a streamed answer. The last chunk has `done=True` and carries the final `response`."""

    delta: str = ""
    done: bool = False
    response: LLMResponse | None = None
