"""`tool_execution`: the tools bound to the rules that apply and to the scenario step, run for the host's tenant.

Tools get an Agno `RunContext` whose `session_state` carries the tenant, agent and session from the host
(restored after every tool: a tool cannot change whom later tools act for). A binding whose arguments
are not known yet does not run (recorded). A required tool that fails or times out fails the turn; an
optional one is recorded and the turn goes on. Results land in the turn's variables.
"""

from __future__ import annotations

from collections.abc import Iterable

from agno.run import RunContext
from agno.workflow import StepInput, StepOutput
from focal.workflows._turn import Turn, TurnServices, turn_of
from focal.workflows.steps.filtering import FilteringOutcome, ScenarioOutcome, rules_of

from focal.alignment import ToolBinding, ToolTiming
from focal.alignment.turn import ToolOutcome
from focal.errors import FocalError

__all__ = ["ToolFailedError", "ToolSteps"]

TENANT_KEYS = ("tenant_id", "agent_id", "session_id")


class ToolFailedError(FocalError):
    """A required tool failed: the turn fails with it."""

    def __init__(self, outcome: ToolOutcome) -> None:
        super().__init__(f"required tool {outcome.tool_id!r} ({outcome.bound_by}) failed: {outcome.error}")
        self.outcome = outcome


class ToolSteps:
    def __init__(self, services: TurnServices) -> None:
        self.services = services

    async def tool_execution(self, step_input: StepInput) -> StepOutput:
        turn = turn_of(step_input)
        rules = rules_of(step_input)
        scenario = step_input.get_step_content("scenario_filtering")
        assert isinstance(scenario, ScenarioOutcome)
        for binding, bound_by in _bindings(turn, rules, scenario):
            await self._run(turn, binding, bound_by)
        return StepOutput(content=tuple(turn.tool_outcomes))

    async def _run(self, turn: Turn, binding: ToolBinding, bound_by: str) -> None:
        known = {**turn.state.variables, **turn.variables}
        missing = [var for var in binding.arguments.values() if known.get(var) is None]
        if missing:
            turn.skip("tool_execution", f"{binding.tool} ({bound_by}) not run: {', '.join(missing)} not known yet")
            return
        arguments = {param: known[var] for param, var in binding.arguments.items()}
        context = RunContext(
            run_id=turn.run_id, session_id=turn.session_id, user_id=turn.user_id, session_state=turn.tool_state
        )
        self._restore_tenant(turn)
        timeout = min(binding.timeout_seconds, turn.remaining())
        result = await self.services.tools.invoke(binding.tool, arguments, context, timeout)
        self._restore_tenant(turn)
        outcome = ToolOutcome(
            tool_id=binding.tool,
            required=binding.required,
            ok=result.ok,
            arguments=arguments,
            output=dict(result.output or {}),
            error=result.error,
            elapsed_ms=result.elapsed_ms,
            bound_by=bound_by,
        )
        turn.tool_outcomes.append(outcome)
        if not outcome.ok:
            if binding.required:
                raise ToolFailedError(outcome)
            return
        values = {**outcome.output, binding.result_variable: outcome.output}
        turn.variables.update(values)
        turn.state = turn.state.with_variables(values)

    def _restore_tenant(self, turn: Turn) -> None:
        turn.tool_state.update(tenant_id=turn.tenant_id, agent_id=turn.agent_id, session_id=turn.session_id)


def _bindings(turn: Turn, rules: FilteringOutcome, scenario: ScenarioOutcome) -> Iterable[tuple[ToolBinding, str]]:
    """Bindings in the order they run: the step left (after_step), the step entered (before, during), the
    rules that apply (on match). A tool bound twice with the same arguments runs once."""
    config, seen = turn.config, set()
    ordered: list[tuple[ToolBinding, str]] = []
    if scenario.left_step is not None:
        step = config.steps.get(scenario.left_step)
        if step is not None:
            ordered += [
                (b, f"step:{'/'.join(scenario.left_step)}") for b in step.tools if b.when is ToolTiming.AFTER_STEP
            ]
    if turn.state.active_scenario and turn.state.active_step:
        key = (turn.state.active_scenario, turn.state.active_step)
        step = config.steps.get(key)
        if step is not None:
            timings = (ToolTiming.BEFORE_STEP, ToolTiming.DURING_STEP)
            ordered += [(b, f"step:{'/'.join(key)}") for b in step.tools if b.when in timings]
    for rule_id in rules.applied:
        ordered += [(b, f"rule:{rule_id}") for b in config.rules_by_id[rule_id].tools]
    for binding, bound_by in ordered:
        key = (binding.tool, tuple(sorted(binding.arguments.items())))
        if key not in seen:
            seen.add(key)
            yield binding, bound_by
