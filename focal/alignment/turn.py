"""A turn's input, its result for the host, and its audit record (`TurnRecord`): why this reply.

The workflow fills these; `focal.alignment.audit` stores the record. Amounts are `Decimal` (exact, as in
the call records); every record carries the tenant it belongs to.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EnforcementOutcome",
    "GenerationAttempt",
    "RuleOutcome",
    "ScenarioMove",
    "SkippedCall",
    "StepModel",
    "ToolOutcome",
    "TurnInput",
    "TurnRecord",
    "TurnResult",
    "Verdict",
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TurnInput(_Record):
    """What the host sends for a turn. The tenant and agent are not here: they come from the host's
    `session_state` (never from the message or a model)."""

    message: str = Field(min_length=1, max_length=20_000)
    conversation_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, str] = Field(default_factory=dict)


class RuleOutcome(_Record):
    """One rule considered this turn: kept (it applies) or dropped, and why, and by whom."""

    rule_id: str
    kept: bool
    reason: str
    decided_by: Literal["filter", "expression", "model", "relationship"]


class ScenarioMove(_Record):
    """Where the conversation was and is in a scenario, and why it moved (or did not)."""

    action: Literal["none", "start", "continue", "transition", "exit", "relocated"]
    before_scenario: str | None = None
    before_step: str | None = None
    after_scenario: str | None = None
    after_step: str | None = None
    skipped_steps: tuple[str, ...] = ()
    reason: str = ""


class ToolOutcome(_Record):
    tool_id: str
    required: bool
    ok: bool
    arguments: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    elapsed_ms: float = 0.0
    bound_by: str = ""
    """`rule:<id>` or `step:<scenario>/<step>`."""


class Verdict(_Record):
    """A hard rule's verdict on one reply. `by`: its `check` expression, or the judge model."""

    rule_id: str
    complies: bool
    by: Literal["expression", "judge"]
    reason: str


class GenerationAttempt(_Record):
    """One reply written (by the model, or a template) and what enforcement said of it."""

    number: int
    source: Literal["model", "exclusive_template", "fallback_template", "profile_fallback"]
    reply: str
    template_id: str | None = None
    verdicts: tuple[Verdict, ...] = ()

    @property
    def passed(self) -> bool:
        return all(v.complies for v in self.verdicts)


class EnforcementOutcome(_Record):
    """`passed`: the first attempt passed; `regenerated`: a later model attempt passed; `fallback`: a
    FALLBACK template or the profile's fallback reply was sent because no attempt passed."""

    status: Literal["passed", "regenerated", "fallback", "not_checked"]
    attempts: int
    violations: tuple[str, ...] = ()
    """Rule ids broken by some attempt."""


class StepModel(_Record):
    """The model an LLM step ran on, why that one, and what it cost."""

    step: str
    model: str
    reason: str
    attempts: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0


class SkippedCall(_Record):
    step: str
    reason: str


class TurnResult(_Record):
    """What the host gets back (`WorkflowRunOutput.content`)."""

    turn_id: str
    turn_number: int
    reply: str
    matched_rules: tuple[str, ...] = ()
    scenario: str | None = None
    step: str | None = None
    tools: tuple[ToolOutcome, ...] = ()
    enforcement: EnforcementOutcome
    models: tuple[StepModel, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    config_version: str


class TurnRecord(_Record):
    """The audit of one turn: everything needed to explain the reply."""

    turn_id: str
    tenant_id: str
    agent_id: str
    session_id: str
    user_id: str | None = None
    run_id: str | None = None
    turn_number: int
    config_version: str
    reconciliation: str | None = None
    """What happened when the tenant had published a new version since the last turn."""
    message: str
    intent: str | None = None
    rejected_values: dict[str, str] = Field(default_factory=dict)
    """Values extraction read from the message that were not taken (not collected from users, or invalid)."""
    rules: tuple[RuleOutcome, ...] = ()
    scenario: ScenarioMove
    tools: tuple[ToolOutcome, ...] = ()
    attempts: tuple[GenerationAttempt, ...] = ()
    enforcement: EnforcementOutcome
    reply: str
    models: tuple[StepModel, ...] = ()
    skipped_calls: tuple[SkippedCall, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    state_after: dict[str, Any] | None = None
    """The session's alignment state after this turn (restores a session whose own write was lost)."""
    created_at: dt.datetime
