"""`persist_session_and_audit`: the turn's audit record (with its run record, in one transaction), then the
session state. Nothing reaches the session before the record is written: a turn that fails anywhere
leaves the session as it was. A session found behind its records (its own write was lost after the record
was committed, or a turn of another process got there first) is moved to the state after its last
recorded turn, and the turn fails with `TurnExistsError`: the host sends it again."""

from __future__ import annotations

import datetime as dt
import time
from contextvars import ContextVar
from dataclasses import replace
from decimal import Decimal
from typing import Any

from agno.run import RunContext
from agno.workflow import StepInput, StepOutput
from focal.workflows._session import OWNER_KEY
from focal.workflows._turn import Turn, TurnServices, turn_of
from focal.workflows.steps.filtering import ScenarioOutcome, rules_of
from focal.workflows.steps.replying import Enforced
from focal.workflows.steps.understand import STATE_KEY

from focal.alignment.audit import TurnExistsError
from focal.alignment.turn import TurnRecord, TurnResult
from focal.telemetry import WorkflowRunRecord

__all__ = ["CURRENT_RUN", "PersistStep"]

CURRENT_RUN: ContextVar[WorkflowRunRecord | None] = ContextVar("focal_current_run", default=None)
"""The run record of the turn being run (set by `AlignmentWorkflow.arun`)."""

_HOST_KEYS = frozenset({"tenant_id", "agent_id", "session_id", STATE_KEY, OWNER_KEY})


class PersistStep:
    def __init__(self, services: TurnServices) -> None:
        self.services = services

    async def persist_session_and_audit(self, step_input: StepInput, run_context: RunContext) -> StepOutput:
        turn = turn_of(step_input)
        filtered = rules_of(step_input)
        scenario = step_input.get_step_content("scenario_filtering")
        enforced = step_input.get_step_content("enforcement")
        assert isinstance(scenario, ScenarioOutcome) and isinstance(enforced, Enforced)
        state = turn.state.with_fired(filtered.applied)
        after = state.next_turn().model_dump(mode="json")
        latency_ms = (time.perf_counter() - turn.started) * 1000
        input_tokens = sum(m.input_tokens for m in turn.models)
        output_tokens = sum(m.output_tokens for m in turn.models)
        cost = sum((m.cost_usd for m in turn.models), Decimal(0))
        record = TurnRecord(
            turn_id=turn.turn_id,
            tenant_id=turn.tenant_id,
            agent_id=turn.agent_id,
            session_id=turn.session_id,
            user_id=turn.user_id,
            run_id=turn.run_id,
            turn_number=state.turn,
            config_version=turn.config.version,
            reconciliation=turn.reconciliation,
            message=turn.message,
            intent=turn.situation.intent if turn.situation else None,
            rejected_values=turn.rejected_values,
            rules=filtered.outcomes,
            scenario=scenario.move,
            tools=tuple(turn.tool_outcomes),
            attempts=enforced.attempts,
            enforcement=enforced.outcome,
            reply=enforced.reply,
            models=tuple(turn.models),
            skipped_calls=tuple(turn.skipped),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
            state_after=after,
            created_at=dt.datetime.now(dt.UTC),
        )
        session_state = run_context.session_state
        assert session_state is not None
        try:
            await self.services.turns.asave(record, run=_finished(CURRENT_RUN.get()))
        except TurnExistsError as exc:
            await _catch_up_state(self.services, turn, session_state)
            raise TurnExistsError(
                f"{exc}: the session was behind its audit records (its last write was lost, or another "
                "process ran it); it now continues from its last recorded turn: send this turn again"
            ) from exc
        # the record is written: now the session moves on (Agno persists this dict when the run ends)
        for key, value in turn.tool_state.items():
            if key not in _HOST_KEYS:
                session_state[key] = value
        session_state[STATE_KEY] = after
        session_state[OWNER_KEY] = f"{turn.tenant_id}/{turn.agent_id}"
        result = TurnResult(
            turn_id=turn.turn_id,
            turn_number=state.turn,
            reply=enforced.reply,
            matched_rules=filtered.applied,
            scenario=state.active_scenario,
            step=state.active_step,
            tools=tuple(turn.tool_outcomes),
            enforcement=enforced.outcome,
            models=tuple(turn.models),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
            config_version=turn.config.version,
        )
        return StepOutput(content=result)


async def _catch_up_state(services: TurnServices, turn: Turn, session_state: dict[str, Any]) -> None:
    """Put the state after the session's last recorded turn in `session_state` (Agno writes it when the
    failed run ends), so the session's next turn follows the record instead of failing again."""
    last = await services.turns.anext_turn_number(turn.tenant_id, turn.session_id) - 1
    if last < 1:
        return
    (record,) = await services.turns.aget(turn.tenant_id, turn.session_id, last)
    if record.state_after is not None:
        session_state[STATE_KEY] = record.state_after
        session_state[OWNER_KEY] = f"{turn.tenant_id}/{turn.agent_id}"


def _finished(run: WorkflowRunRecord | None) -> WorkflowRunRecord | None:
    """The run as it will be recorded when it completes (the tracker records it again at the end)."""
    if run is None:
        return None
    return replace(run, status="completed", ended_at=dt.datetime.now(dt.UTC), steps=list(run.steps))
