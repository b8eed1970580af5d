"""`scenario_filtering`: start, continue, transition or exit, for what expressions could not decide.

The model sees only the choices left to it (scenarios to start, text transitions of the active step);
the caller takes a decision only if it names one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal

from agno.agent import Agent
from focal.agents._common import ModelOutput, OptionalId, ShortText, clip, join_sections, section, situation_section
from pydantic import BeforeValidator, Field, model_validator

from focal.alignment import AlignmentConfig, AlignmentState, ScenarioCandidate, Situation, StepTransition

__all__ = ["ScenarioAction", "ScenarioDecision", "scenario_filtering_agent", "scenario_filtering_input"]

MESSAGE_CHARS: Final = 4000
TEXT_CHARS: Final = 300

ScenarioAction = Literal["start", "continue", "transition", "exit"]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class ScenarioDecision(ModelOutput):
    """Where the conversation goes: `start` names a scenario, `transition` a step."""

    action: Annotated[ScenarioAction, BeforeValidator(_lower)] = Field(
        description="start, continue, transition or exit."
    )
    scenario_id: OptionalId = Field(default=None, description="For start: the scenario id. Otherwise null.")
    step_id: OptionalId = Field(default=None, description="For transition: the target step id. Otherwise null.")
    reason: ShortText = Field(default="", description="One short sentence.")

    @model_validator(mode="after")
    def _names_its_target(self) -> ScenarioDecision:
        if self.action == "start" and self.scenario_id is None:
            raise ValueError("action start needs scenario_id")
        if self.action == "transition" and self.step_id is None:
            raise ValueError("action transition needs step_id")
        return self


INSTRUCTIONS = """\
You decide where a guided conversation (a scenario) goes after the user's latest message. \
You never reply to the user.
Choose one action:
- start: begin a scenario listed under "Scenarios to start"; set scenario_id.
- continue: stay where the conversation is (no scenario starts, the step does not change).
- transition: move to a step listed under "Transitions" whose condition holds; set step_id.
- exit: the user wants to stop or leave the active scenario.
Use only listed ids. If nothing clearly fits, answer continue. reason: one short sentence."""

scenario_filtering_agent = Agent(
    name="scenario_filtering",
    id="focal-scenario-filtering",
    instructions=INSTRUCTIONS,
    output_schema=ScenarioDecision,
    telemetry=False,
)
"""A template: no model, no db. The executor runs a per-call copy on the resolved model."""


def scenario_filtering_input(
    message: str,
    situation: Situation | None,
    config: AlignmentConfig,
    state: AlignmentState,
    candidates: Sequence[ScenarioCandidate],
    transitions: Sequence[StepTransition],
) -> str:
    """The scenario prompt: the message and its intent, the active scenario and step, the scenarios that
    may start (by id) and the active step's transitions left to the model (in the order given: by priority).

    Args:
        message: the user's message.
        situation: what context extraction found, if it ran.
        config: the session's configuration version.
        state: the session's state (its position).
        candidates: scenarios the model may start (ids not in `config` are left out).
        transitions: text transitions of the active step the model may take.
    """
    active = "none"
    scenario = config.scenarios.get(state.active_scenario or "")
    if scenario is not None:
        active = f"{scenario.id} ({clip(scenario.name, 80)})"
        step = config.steps.get((scenario.id, state.active_step or ""))
        if step is not None:
            active += f", step {step.id}: {clip(step.instructions, 200)}"
    starts = []
    for scenario_id in sorted({c.scenario_id for c in candidates}):
        found = config.scenarios.get(scenario_id)
        if found is not None:
            when = found.entry_when or found.description or found.name
            starts.append(f"- {found.id}: {clip(found.name, 80)}. When: {clip(when, TEXT_CHARS)}")
    moves = [f"- to {t.to}. When: {clip(t.when or t.to, TEXT_CHARS)}" for t in transitions]
    return join_sections(
        f"## Message\n{clip(message, MESSAGE_CHARS)}",
        situation_section(situation),
        f"## Active scenario\n{active}",
        section("Scenarios to start", starts),
        section("Transitions", moves),
    )
