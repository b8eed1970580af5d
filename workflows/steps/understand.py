"""The first three steps: whose turn it is and on which version, what the message says, what may apply."""

from __future__ import annotations

import time
import uuid
from typing import Any

from agno.run import RunContext
from agno.workflow import StepInput, StepOutput
from focal.agents import STEP_AGENTS, SituationSnapshot, extraction_input
from focal.workflows._session import check_ownership, tenant_of
from focal.workflows._turn import Turn, TurnServices, turn_of

from focal.alignment import AlignmentState, RetrievalResult, Situation, reconcile, retrieve, user_values
from focal.alignment.turn import TurnInput
from focal.errors import ConfigError
from focal.execution import BudgetExceededError, StructuredOutputError

__all__ = ["UnderstandSteps"]

STATE_KEY = "alignment"
"""Where the session state keeps the `AlignmentState` (as JSON)."""


class UnderstandSteps:
    def __init__(self, services: TurnServices) -> None:
        self.services = services

    async def pre_turn_reconciliation(self, step_input: StepInput, run_context: RunContext) -> StepOutput:
        """Refuse a session of another tenant or agent, load the pinned version (re-pinning to a newer one),
        check the tenant's budget: all before any model call."""
        state_dict = run_context.session_state if run_context.session_state is not None else {}
        tenant_id, agent_id = tenant_of(state_dict)
        check_ownership(state_dict, run_context.session_id, tenant_id, agent_id)
        message = _message(step_input.input)
        stored = state_dict.get(STATE_KEY)
        state = AlignmentState.model_validate(stored) if stored else AlignmentState(turn=1)
        config = await self.services.alignment.aload(tenant_id, agent_id)
        reconciled = reconcile(state, config)
        await self._budget_gate(tenant_id)
        tool_state = {k: v for k, v in state_dict.items() if k != STATE_KEY}
        turn = Turn(
            tenant_id=tenant_id,
            agent_id=agent_id,
            session_id=run_context.session_id,
            user_id=run_context.user_id,
            run_id=run_context.run_id,
            turn_id=uuid.uuid4().hex,
            message=message,
            config=config,
            before=reconciled.state,
            state=reconciled.state,
            deadline=time.monotonic() + self.services.turn_timeout_seconds,
            reconciliation=reconciled.note,
            relocated=reconciled.relocated,
            tool_state=tool_state,
        )
        return StepOutput(content=turn)

    async def _budget_gate(self, tenant_id: str) -> None:
        budgets = self.services.budgets
        if budgets is None:
            return
        # limits as cached for `resolver_cache_ttl_seconds` (as the executor's reservations use them; one
        # query less per turn): a limit changed in another process applies here after at most that TTL;
        # the spend itself is read fresh, and each model call's reservation checks it atomically
        for info in await budgets.status(tenant_id, fresh=False):
            if info.on_limit.value == "abort" and info.remaining_usd <= 0:
                raise BudgetExceededError(
                    f"tenant {tenant_id!r} has spent its {info.period.value} budget "
                    f"({info.spent_usd} of {info.limit_usd} USD): the turn is refused before any model call",
                    tenant_id=tenant_id,
                    scope=f"budget:{info.period.value}",
                    limit_usd=info.limit_usd,
                    spent_usd=info.spent_usd,
                )

    async def context_extraction(self, step_input: StepInput, run_context: RunContext) -> StepOutput:
        """A typed `SituationSnapshot` of the message: intent, language, facts, candidate variables, scenario signal."""
        turn = turn_of(step_input)
        agent = STEP_AGENTS["context_extraction"]
        # the rules a model must judge that are in play before the message is read: judged in this call
        # (rule filtering asks only about candidates the message's values bring in)
        ahead = retrieve(turn.config, turn.state, Situation(message=turn.message))
        turn.judged_with_situation = frozenset(c.rule_id for c in ahead.candidates)
        prompt = extraction_input(turn.message, turn.config, turn.state, rules=[c.rule for c in ahead.candidates])
        try:
            snapshot, response = await self.services.executor.run_agent(
                agent,
                prompt,
                turn.call_context("context_extraction"),
                session_state=turn.tool_state,
                user_id=turn.user_id,
            )
        except StructuredOutputError as exc:  # a weak model's answer: the turn goes on understanding nothing
            snapshot = SituationSnapshot()
            turn.note_unusable("context_extraction", exc, "read as saying nothing (no intent, value or verdict)")
        else:
            assert isinstance(snapshot, SituationSnapshot)
            turn.note_call("context_extraction", response)
        values, turn.rejected_values = user_values(turn.config, snapshot.variables_dict())
        turn.situation = Situation(
            message=turn.message,
            intent=snapshot.intent or None,
            language=snapshot.language or turn.config.profile.default_language,
            variables=values,
        )
        return StepOutput(content=snapshot)

    async def retrieval(self, step_input: StepInput) -> StepOutput:
        """The rules and scenarios in play, filtered and ranked without a model."""
        turn = turn_of(step_input)
        assert turn.situation is not None
        result: RetrievalResult = retrieve(turn.config, turn.state, turn.situation)
        return StepOutput(content=result)


def _message(value: Any) -> str:
    if isinstance(value, TurnInput):
        return value.message
    if isinstance(value, dict):
        return TurnInput.model_validate(value).message
    if isinstance(value, str) and value.strip():
        return value
    raise ConfigError("a turn's input is a TurnInput (or a non-empty message)")
