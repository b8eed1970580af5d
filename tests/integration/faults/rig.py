"""The fault-injection rig: the real SDKs (OpenAI, Anthropic, Ollama clients via Agno's models).

Every provider's base URL points at a loopback `FakeProviderServer`; faults are injected on the
wire and the call goes through `ResilientExecutor` (retries, fallbacks, breakers, records). Every
test ends in `assert_outcome` (tests/fakes/outcomes.py), which asserts the number of HTTP requests
the fake received, the model that answered (or the typed error when none did), the `LLMCallRecord`s
written (one per attempt: status, error class, fallback hop, cause), and that no truncated answer
is ever reported as a success.

Routes (the primary model, then its first fallback):

- anthropic: support.generation from the catalog -- anthropic/claude-sonnet-5, then openai/gpt-4o,
  then anthropic/claude-haiku-4-5 (configs/agents/support.yaml);
- openai: a tenant override -- openai/gpt-4o, then anthropic/claude-sonnet-5;
- ollama: a tenant override -- ollama/llama3.1:8b, then openai/gpt-4o.

The executor retries twice per hop (`max_attempts=2`), the call timeout is 1 s and a stream that is
silent for 0.5 s after its first token has stalled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from focal.execution import (
    BudgetManager,
    ExecutionContext,
    ResilientExecutor,
)
from focal.telemetry import LLMCallRecord
from tests.fakes.outcomes import (
    START,
    Mark,
    assert_outcome,
    mark,
    run_outcome,
    stream_outcome,
)
from tests.fakes.provider_server import FakeProviderServer

SONNET, GPT4O, HAIKU = "anthropic/claude-sonnet-5", "openai/gpt-4o", "anthropic/claude-haiku-4-5"
MINI, GPT41, LLAMA8 = "openai/gpt-4o-mini", "openai/gpt-4.1", "ollama/llama3.1:8b"

PROVIDERS = ["anthropic", "openai", "ollama"]
MODES = ["plain", "stream"]
PRIMARY = {"anthropic": SONNET, "openai": GPT4O, "ollama": LLAMA8}
FALLBACK = {"anthropic": GPT4O, "openai": SONNET, "ollama": GPT4O}
_OVERRIDES = {"openai": ("openai:capable", ["anthropic:capable"]), "ollama": ("ollama:capable", ["openai:capable"])}

PE, PTE, PU = "ProviderError", "ProviderTimeoutError", "ProviderUnavailable"
RLE, SIE, CWE, CF, AUTH = (
    "RateLimitError",
    "StreamInterruptedError",
    "ContextWindowExceeded",
    "ContentFiltered",
    "AuthenticationError",
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Outcome = Any  # LLMResponse | BaseException | StreamOutcome


@dataclass
class Rig:
    server: FakeProviderServer
    executor: ResilientExecutor
    clock: Clock
    records: list[LLMCallRecord] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    async_engine: Any = None
    build: Any = None
    """`build(budgets=None)`: an executor like the rig's (same models, policies and records sink)."""

    async def with_budget(self, limit_usd: str = "5") -> BudgetManager:
        """Give the tenant a daily budget and enforce it from now on (a fresh executor, same models)."""
        budgets = BudgetManager(self.async_engine)
        await budgets.set_budget("acme", "day", Decimal(limit_usd), on_limit="abort")
        self.executor = self.build(budgets=budgets)
        return budgets

    def ctx(self, step: str = "generation") -> ExecutionContext:
        return ExecutionContext(
            tenant_id="acme", agent_id="support", session_id="acme:s1", step_name=step, timeout_seconds=1.0
        )

    async def route(self, provider: str) -> None:
        """Aim support.generation at `provider` (see the module docstring)."""
        if provider in _OVERRIDES:
            ref, chain = _OVERRIDES[provider]
            await self.executor.resolver.overrides.aset("acme", "support", "generation", ref, fallback_chain=chain)

    async def call(self, mode: str, step: str = "generation") -> Outcome:
        """One call, plain or streamed; its outcome (the response, the typed error, or what the stream gave)."""
        if mode == "stream":
            return await stream_outcome(self.executor.stream("Tell me something.", self.ctx(step)))
        return await run_outcome(self.executor.run("Tell me something.", self.ctx(step)))

    def mark(self) -> Mark:
        return mark(self.server, self.records)

    def check(self, outcome: Outcome, *, since: Mark = START, **expected: Any) -> None:
        """`assert_outcome` against this rig's server and records; every scripted reply was used."""
        assert_outcome(outcome, self.server, self.records, since=since, **expected)
        for record in self.records[since.records :]:  # who the call was for, on every record
            who = (record.tenant_id, record.agent_id, record.session_id, record.step_name)
            assert who == ("acme", "support", "acme:s1", record.step_name) and record.step_name
            assert record.resolution_source and record.task_type
        assert self.server.pending == 0, f"{self.server.pending} scripted replies were never requested"
        assert self.server.errors == []
