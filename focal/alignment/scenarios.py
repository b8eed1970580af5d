"""Scenarios (journeys): steps that collect variables, run tools and move on by transitions."""

from __future__ import annotations

from pydantic import Field, model_validator

from focal.alignment._base import Frozen, Identifier, LongText, ShortText, VariableSpec
from focal.alignment.bindings import ToolBinding

__all__ = ["Scenario", "ScenarioStep", "StepTransition"]


class StepTransition(Frozen):
    """Move to step `to` when `when` (text, the model decides) or `when_expression` (decided without one)."""

    to: Identifier
    when: LongText | None = None
    when_expression: str | None = Field(default=None, max_length=500)
    priority: int = 0

    @model_validator(mode="after")
    def _has_condition(self) -> StepTransition:
        if self.when is None and self.when_expression is None:
            raise ValueError("a transition needs `when` or `when_expression`")
        return self


class ScenarioStep(Frozen):
    id: Identifier
    instructions: LongText
    collects: tuple[VariableSpec, ...] = ()
    tools: tuple[ToolBinding, ...] = ()
    templates: tuple[Identifier, ...] = ()
    rules: tuple[Identifier, ...] = ()
    transitions: tuple[StepTransition, ...] = ()
    terminal: bool = False
    skippable: bool = True
    """Skipped when every variable it collects is already known."""


class Scenario(Frozen):
    id: Identifier
    name: ShortText
    description: str = Field(default="", max_length=1000)
    entry_when: LongText | None = None
    entry_expression: str | None = Field(default=None, max_length=500)
    entry_step: Identifier
    steps: tuple[ScenarioStep, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_entry(self) -> Scenario:
        if self.entry_when is None and self.entry_expression is None:
            raise ValueError("a scenario needs `entry_when` or `entry_expression`")
        return self

    def step(self, step_id: str) -> ScenarioStep | None:
        return next((s for s in self.steps if s.id == step_id), None)
