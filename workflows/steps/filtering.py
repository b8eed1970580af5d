"""`rule_filtering` and `scenario_filtering`: which candidate rules apply, and where the scenario goes.

Both model calls are independent, so `rule_filtering` starts the scenario call (when one is needed)
before making its own and `scenario_filtering` collects it: they run concurrently under the turn's
deadline. No call is made when there is nothing to decide (no candidate rules, or every one judged
already by the context extraction call; no scenario signal and no active scenario; a scenario start the
extraction's signal names; a move decided by an expression), and the turn's audit says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from typing import Any

from agno.workflow import StepInput, StepOutput
from focal.agents import (
    STEP_AGENTS,
    RuleFilterResult,
    ScenarioDecision,
    SituationSnapshot,
    rule_filtering_input,
    scenario_filtering_input,
)
from focal.workflows._turn import Turn, TurnServices, turn_of

from focal.alignment import (
    RetrievalResult,
    apply_relationships,
    next_step,
    retrieve,
    skippable_steps,
    validate_variables,
)
from focal.alignment.turn import RuleOutcome, ScenarioMove
from focal.execution import StructuredOutputError

__all__ = ["FilteringOutcome", "FilteringSteps", "ScenarioOutcome", "rules_of"]

_SCENARIO_CALL = "scenario_filtering"


@dataclass(frozen=True, slots=True)
class FilteringOutcome:
    applied: tuple[str, ...]
    """Rules that apply this turn, by priority."""
    outcomes: tuple[RuleOutcome, ...]
    matched: tuple[str, ...]
    """Rules matched (by expression or model) before relationships were applied."""
    considered: tuple[RuleOutcome, ...]
    """Each rule's outcome before relationships were applied."""


def _with_relationships(turn: Turn, matched: list[str], considered: list[RuleOutcome]) -> FilteringOutcome:
    """`overrides` and `requires` applied to the matched rules; the outcomes say which were dropped by them."""
    applied, dropped = apply_relationships(turn.config, matched)
    dropped_ids = {d.rule_id for d in dropped}
    outcomes = [o for o in considered if not (o.kept and o.rule_id in dropped_ids)]
    outcomes += [
        RuleOutcome(rule_id=d.rule_id, kept=False, reason=d.reason, decided_by="relationship") for d in dropped
    ]
    return FilteringOutcome(
        applied=applied, outcomes=tuple(outcomes), matched=tuple(matched), considered=tuple(considered)
    )


def rules_of(step_input: StepInput) -> FilteringOutcome:
    """The rules that apply this turn: rule filtering's, completed by scenario filtering when the turn
    entered a scenario or step (rules scoped there, decided by their expressions)."""
    scenario = step_input.get_step_content("scenario_filtering")
    if isinstance(scenario, ScenarioOutcome) and scenario.rules is not None:
        return scenario.rules
    filtered = step_input.get_step_content("rule_filtering")
    assert isinstance(filtered, FilteringOutcome)
    return filtered


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    move: ScenarioMove
    left_step: tuple[str, str] | None = None
    entered: bool = False
    """The turn entered its step (run its before_step tools)."""
    rules: FilteringOutcome | None = None
    """The turn's rules completed at the position it moved to (None: rule filtering's stand)."""


class FilteringSteps:
    def __init__(self, services: TurnServices) -> None:
        self.services = services

    # --- rules ----------------------------------------------------------------------------------

    async def rule_filtering(self, step_input: StepInput) -> StepOutput:
        turn = turn_of(step_input)
        snapshot = step_input.get_step_content("context_extraction")
        retrieved = step_input.get_step_content("retrieval")
        assert isinstance(snapshot, SituationSnapshot) and isinstance(retrieved, RetrievalResult)
        question = self._scenario_question(turn, snapshot, retrieved)
        if question is not None:
            turn.pending[_SCENARIO_CALL] = asyncio.ensure_future(self._ask_scenario(turn, question))
        try:
            outcome = await self._filter_rules(turn, snapshot, retrieved)
        except BaseException:
            pending = turn.pending.pop(_SCENARIO_CALL, None)
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            raise
        return StepOutput(content=outcome)

    async def _filter_rules(
        self, turn: Turn, snapshot: SituationSnapshot, retrieved: RetrievalResult
    ) -> FilteringOutcome:
        outcomes = [
            RuleOutcome(rule_id=d.rule_id, kept=False, reason=d.reason, decided_by="filter") for d in retrieved.dropped
        ]
        outcomes += [
            RuleOutcome(rule_id=d.rule_id, kept=d.matched, reason=d.reason, decided_by="expression")
            for d in retrieved.decided
        ]
        matched = list(retrieved.matched_ids)
        judged = snapshot.rule_verdicts(turn.judged_with_situation)
        unjudged = [c for c in retrieved.candidates if c.rule_id not in judged]
        for candidate in retrieved.candidates:
            verdict = judged.get(candidate.rule_id)
            if verdict is None:
                continue
            outcomes.append(
                RuleOutcome(
                    rule_id=candidate.rule_id,
                    kept=verdict.applies,
                    reason=f"{verdict.reason} (judged with the situation)",
                    decided_by="model",
                )
            )
            if verdict.applies:
                matched.append(candidate.rule_id)
        if not retrieved.candidates:
            turn.skip("rule_filtering", "no candidate rules for the model to judge")
        elif not unjudged:
            turn.skip("rule_filtering", "every candidate rule was judged with the situation (context_extraction)")
        else:
            prompt = rule_filtering_input(turn.message, turn.situation, unjudged)
            try:
                result, response = await self.services.executor.run_agent(
                    STEP_AGENTS["rule_filtering"],
                    prompt,
                    turn.call_context("rule_filtering"),
                    session_state=turn.tool_state,
                    user_id=turn.user_id,
                )
            except StructuredOutputError as exc:  # no verdict: the candidates do not apply, hard rules do
                result = RuleFilterResult(decisions=())
                turn.note_unusable("rule_filtering", exc, "no verdict: soft rules left out, hard rules applied")
            else:
                assert isinstance(result, RuleFilterResult)
                turn.note_call("rule_filtering", response)
            answered = {d.rule_id: d for d in result.decisions}
            for candidate in unjudged:
                decision = answered.get(candidate.rule_id)
                if decision is None and candidate.rule.hard:  # fail closed: enforcement checks the reply
                    outcomes.append(
                        RuleOutcome(
                            rule_id=candidate.rule_id,
                            kept=True,
                            reason="the model gave no verdict on a hard rule: applied (fail closed)",
                            decided_by="model",
                        )
                    )
                    matched.append(candidate.rule_id)
                    continue
                if decision is None:  # not answered: not applied, and said so
                    outcomes.append(
                        RuleOutcome(
                            rule_id=candidate.rule_id,
                            kept=False,
                            reason="the model gave no verdict",
                            decided_by="model",
                        )
                    )
                    continue
                outcomes.append(
                    RuleOutcome(
                        rule_id=candidate.rule_id, kept=decision.applies, reason=decision.reason, decided_by="model"
                    )
                )
                if decision.applies:
                    matched.append(candidate.rule_id)
        return _with_relationships(turn, matched, outcomes)

    # --- scenarios ------------------------------------------------------------------------------

    def _scenario_question(
        self, turn: Turn, snapshot: SituationSnapshot, retrieved: RetrievalResult
    ) -> dict[str, Any] | None:
        """What the model must decide about scenarios, or None when nothing is left to it."""
        state = turn.state
        if state.active_scenario is None:
            undecided = [c for c in retrieved.scenario_candidates if not c.decided]
            if any(c.decided for c in retrieved.scenario_candidates) or not undecided:
                return None
            if not snapshot.scenario_signal or _signalled(snapshot, retrieved) is not None:
                return None
            return {"candidates": undecided, "transitions": ()}
        assert state.active_step is not None
        variables = self._collected(turn, snapshot)
        decision = next_step(turn.config, state.active_scenario, state.active_step, variables)
        if not decision.for_model and not snapshot.wants_to_leave:
            return None
        return {"candidates": (), "transitions": decision.for_model}

    async def _ask_scenario(self, turn: Turn, question: dict[str, Any]) -> tuple[ScenarioDecision, Any]:
        prompt = scenario_filtering_input(
            turn.message, turn.situation, turn.config, turn.state, question["candidates"], question["transitions"]
        )
        return await self.services.executor.run_agent(
            STEP_AGENTS["scenario_filtering"],
            prompt,
            turn.call_context("scenario_filtering"),
            session_state=turn.tool_state,
            user_id=turn.user_id,
        )

    def _collected(self, turn: Turn, snapshot: SituationSnapshot) -> dict[str, Any]:
        """The turn's variables with this turn's candidate values the active step accepts."""
        state = turn.state
        values: dict[str, Any] = {**state.variables}
        if state.active_scenario and state.active_step:
            step = turn.config.steps[(state.active_scenario, state.active_step)]
            accepted, _ = validate_variables(step, snapshot.variables_dict())
            values.update(accepted)
        return values

    async def scenario_filtering(self, step_input: StepInput) -> StepOutput:
        turn = turn_of(step_input)
        snapshot = step_input.get_step_content("context_extraction")
        retrieved = step_input.get_step_content("retrieval")
        assert isinstance(snapshot, SituationSnapshot) and isinstance(retrieved, RetrievalResult)
        pending = turn.pending.pop(_SCENARIO_CALL, None)
        model_decision: ScenarioDecision | None = None
        if pending is not None:
            try:
                model_decision, response = await pending
            except StructuredOutputError as exc:  # no decision: the conversation stays where it is
                turn.note_unusable("scenario_filtering", exc, "read as continue")
            else:
                turn.note_call("scenario_filtering", response)
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # the call finished after the turn was cancelled
                raise asyncio.CancelledError
        else:
            turn.skip("scenario_filtering", _why_no_scenario_call(turn, snapshot, retrieved))
        outcome = self._move(turn, snapshot, retrieved, model_decision)
        filtered = step_input.get_step_content("rule_filtering")
        assert isinstance(filtered, FilteringOutcome)
        if outcome.entered:
            outcome = replace(outcome, rules=self._rules_where_entered(turn, filtered))
        return StepOutput(content=outcome)

    def _rules_where_entered(self, turn: Turn, filtered: FilteringOutcome) -> FilteringOutcome | None:
        """Rules scoped to the scenario or step this turn entered: those decided by their expressions
        apply now (no model call); those a model must judge apply from the next turn, and those that
        cannot fire are left out — both recorded. None when the position brings no rule."""
        assert turn.situation is not None
        where = f"{turn.state.active_scenario}/{turn.state.active_step}"
        known = {o.rule_id for o in filtered.considered}
        again = retrieve(turn.config, turn.state, turn.situation)
        decided = [d for d in again.decided if d.rule_id not in known]
        added = [
            RuleOutcome(
                rule_id=d.rule_id,
                kept=d.matched,
                reason=f"{d.reason} (at {where}, entered this turn)",
                decided_by="expression",
            )
            for d in decided
        ]
        added += [
            RuleOutcome(
                rule_id=c.rule.id,
                kept=False,
                reason=f"scoped to {where}, entered this turn: the model judges it from the next turn",
                decided_by="filter",
            )
            for c in again.candidates
            if c.rule.id not in known
        ]
        added += [
            RuleOutcome(rule_id=d.rule_id, kept=False, reason=f"{d.reason} (at {where})", decided_by="filter")
            for d in again.dropped
            if d.rule_id not in known
        ]
        if not added:
            return None
        matched = list(filtered.matched) + [d.rule_id for d in decided if d.matched]
        return _with_relationships(turn, matched, list(filtered.considered) + added)

    def _move(
        self,
        turn: Turn,
        snapshot: SituationSnapshot,
        retrieved: RetrievalResult,
        decision: ScenarioDecision | None,
    ) -> ScenarioOutcome:
        config, state = turn.config, turn.state
        before = (state.active_scenario, state.active_step)
        if state.active_scenario is None:
            chosen = next((c for c in retrieved.scenario_candidates if c.decided), None)
            scenario_id, reason = (chosen.scenario_id, chosen.reason) if chosen else (None, "")
            signalled = _signalled(snapshot, retrieved)
            if scenario_id is None and signalled is not None:
                scenario_id, reason = signalled, "the message asks for it (context_extraction's scenario signal)"
            offered = {c.scenario_id for c in retrieved.scenario_candidates}
            if (
                scenario_id is None
                and decision is not None
                and decision.action == "start"
                and decision.scenario_id in offered
            ):
                scenario_id, reason = decision.scenario_id, f"model: {decision.reason}"
            if scenario_id is None:
                return ScenarioOutcome(ScenarioMove(action="none", reason="no scenario applies"))
            entry = config.scenarios[scenario_id].entry_step
            turn.state = state.at(scenario_id, entry)
            return self._settle(turn, snapshot, before, "start", reason, left=None)
        assert state.active_step is not None
        if decision is not None and decision.action == "exit":
            turn.state = state.at(None)
            return ScenarioOutcome(
                ScenarioMove(
                    action="exit",
                    before_scenario=before[0],
                    before_step=before[1],
                    reason=f"model: {decision.reason}",
                ),
                left_step=(before[0], before[1]),
            )
        variables = self._collected(turn, snapshot)
        turn.state = turn.state.with_variables({k: v for k, v in variables.items() if k not in state.variables})
        auto = next_step(config, state.active_scenario, state.active_step, variables)
        target, reason = auto.to, auto.reason
        if decision is not None and decision.action == "transition":
            allowed = {t.to for t in auto.for_model}
            if decision.step_id in allowed:
                target, reason = decision.step_id, f"model: {decision.reason}"
        if target is None:
            return self._settle(turn, snapshot, before, "continue", reason or "stays at the step", left=None)
        turn.state = turn.state.at(state.active_scenario, target)
        return self._settle(
            turn, snapshot, before, "transition", reason, left=(state.active_scenario, state.active_step)
        )

    def _settle(
        self,
        turn: Turn,
        snapshot: SituationSnapshot,
        before: tuple[str | None, str | None],
        action: str,
        reason: str,
        left: tuple[str, str] | None,
    ) -> ScenarioOutcome:
        """Collect the new step's variables, skip steps whose variables are all known, and say where it ended."""
        state = turn.state
        assert state.active_scenario is not None and state.active_step is not None
        variables = self._collected(turn, snapshot)
        turn.state = state.with_variables({k: v for k, v in variables.items() if k not in state.variables})
        skip = skippable_steps(turn.config, state.active_scenario, state.active_step, variables)
        if skip.skipped:
            turn.state = turn.state.at(state.active_scenario, skip.landing)
        move = ScenarioMove(
            action=action,  # type: ignore[arg-type]
            before_scenario=before[0],
            before_step=before[1],
            after_scenario=turn.state.active_scenario,
            after_step=turn.state.active_step,
            skipped_steps=skip.skipped,
            reason=reason,
        )
        entered = (before[0], before[1]) != (turn.state.active_scenario, turn.state.active_step)
        return ScenarioOutcome(move, left_step=left, entered=entered)


def _signalled(snapshot: SituationSnapshot, retrieved: RetrievalResult) -> str | None:
    """The scenario candidate (left to the model) that context extraction said the message asks for."""
    signal = snapshot.scenario_signal
    offered = {c.scenario_id for c in retrieved.scenario_candidates if not c.decided}
    return signal if signal in offered else None


def _why_no_scenario_call(turn: Turn, snapshot: SituationSnapshot, retrieved: RetrievalResult) -> str:
    if turn.state.active_scenario is not None:
        return "the active step's transitions were decided by expressions (or none is left to the model)"
    if any(c.decided for c in retrieved.scenario_candidates):
        return "a scenario's entry expression decided it"
    if _signalled(snapshot, retrieved) is not None:
        return "context extraction's scenario signal named a scenario on offer"
    if not snapshot.scenario_signal:
        return "no scenario signal and no active scenario"
    return "no scenario candidate"
