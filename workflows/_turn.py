"""What the turn's steps share: the services (built once per process) and one turn's working data.

A turn's working data lives in a `Turn` object that `pre_turn_reconciliation` returns as its step
content and later steps read back with `step_input.get_step_content(...)`. Nothing of it reaches the
Agno session until `persist_session_and_audit`, so a failed turn leaves the session as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agno.workflow import StepInput

from focal.alignment import AlignmentConfig, AlignmentState, Situation
from focal.alignment.store import AlignmentStore
from focal.alignment.turn import SkippedCall, StepModel, ToolOutcome
from focal.execution import BudgetManager, ExecutionContext, ExecutionError, LLMResponse, ResilientExecutor
from focal.telemetry import RunTracker

__all__ = ["PRE_TURN", "Turn", "TurnServices", "turn_of"]

PRE_TURN = "pre_turn_reconciliation"
WORKFLOW_NAME = "alignment"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnServices:
    """What the shared workflow's steps use; one per process, shared by every tenant.

    - `tools`: the tool registry (`focal.tools.ToolRegistry`).
    - `turn_timeout_seconds`: the deadline of a whole turn (every call, tool and retry within it).
    - `max_regenerations`: replies rewritten after a violation before the FALLBACK template is sent.
    """

    executor: ResilientExecutor
    alignment: AlignmentStore
    tools: Any
    turns: Any
    """Where turn records go: `await turns.asave(record, run=run_record)` (`focal.alignment.audit.TurnStore`)."""
    runs: RunTracker
    budgets: BudgetManager | None = None
    turn_timeout_seconds: float = 60.0
    max_regenerations: int = 2


@dataclass(slots=True, kw_only=True)
class Turn:
    """One turn's working data: who it is for, the pinned configuration, the state being built."""

    tenant_id: str
    agent_id: str
    session_id: str
    user_id: str | None
    run_id: str
    turn_id: str
    message: str
    config: AlignmentConfig
    before: AlignmentState
    """The session's state when the turn began (re-pinned)."""
    state: AlignmentState
    """The state as the steps change it; written to the session by the last step only."""
    deadline: float
    started: float = field(default_factory=time.perf_counter)
    reconciliation: str | None = None
    relocated: bool = False
    situation: Situation | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    """Values tools returned this turn (also merged into `state.variables`)."""
    tool_outcomes: list[ToolOutcome] = field(default_factory=list)
    models: list[StepModel] = field(default_factory=list)
    skipped: list[SkippedCall] = field(default_factory=list)
    tool_state: dict[str, Any] = field(default_factory=dict)
    """The session state tools see (a working copy: the session gets it only if the turn succeeds)."""
    pending: dict[str, Any] = field(default_factory=dict)
    """Calls started early to run concurrently (e.g. scenario filtering), by step name."""
    rejected_values: dict[str, str] = field(default_factory=dict)
    """Values extraction proposed that were not taken, by name, with the reason."""
    judged_with_situation: frozenset[str] = frozenset()
    """Rules listed in the context extraction's prompt for the model to judge in the same call."""

    def __str__(self) -> str:  # what Agno stores of the step's output (not the whole configuration)
        where = f"{self.state.active_scenario}/{self.state.active_step}" if self.state.active_scenario else "-"
        note = f"; {self.reconciliation}" if self.reconciliation else ""
        return f"turn {self.state.turn} of {self.session_id} on {self.config.version} at {where}{note}"

    def call_context(self, step: str) -> ExecutionContext:
        return ExecutionContext(
            tenant_id=self.tenant_id,
            agent_id=self.agent_id,
            session_id=self.session_id,
            workflow_name=WORKFLOW_NAME,
            step_name=step,
            run_id=self.run_id,
            deadline=self.deadline,
        )

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def note_call(self, step: str, response: LLMResponse) -> None:
        self.models.append(
            StepModel(
                step=step,
                model=f"{response.provider}/{response.model_id}",
                reason=str(response.metadata.get("resolution_reason", "")),
                attempts=len(response.attempts) or 1,
                input_tokens=response.usage.input,
                output_tokens=response.usage.output,
                cost_usd=response.cost,
                latency_ms=response.latency_ms,
            )
        )

    def note_unusable(self, step: str, exc: ExecutionError, outcome: str) -> None:
        """A call that was made (and billed) but whose answer did not validate: in the turn's models, with
        its tokens and cost, and what the turn did instead as its reason."""
        usage = exc.usage
        self.models.append(
            StepModel(
                step=step,
                model=exc.billed_model or "unknown",
                reason=unusable(exc, outcome),
                input_tokens=getattr(usage, "input", 0),
                output_tokens=getattr(usage, "output", 0),
                cost_usd=exc.cost or 0,
            )
        )

    def skip(self, step: str, reason: str) -> None:
        self.skipped.append(SkippedCall(step=step, reason=reason))


def turn_of(step_input: StepInput) -> Turn:
    """The turn's working data, from the first step's output."""
    turn = step_input.get_step_content(PRE_TURN)
    if not isinstance(turn, Turn):  # pragma: no cover - the workflow always runs pre_turn first
        raise RuntimeError(f"the {PRE_TURN} step left no turn data")
    return turn


def unusable(exc: BaseException, outcome: str) -> str:
    """The audit's reason for a model call whose answer did not validate (after one re-ask): what the
    turn did instead. The call itself is in the telemetry, with its error."""
    return f"the model's answer did not validate ({_clip_error(exc)}): {outcome}"


def _clip_error(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
