"""Tool bindings: which tool runs, when, with which arguments taken from turn variables."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from focal.alignment._base import Frozen, Identifier

__all__ = ["ToolBinding", "ToolTiming"]


class ToolTiming(StrEnum):
    """When a bound tool runs: around its scenario step, or when the rule it is bound to matches."""

    BEFORE_STEP = "before_step"
    DURING_STEP = "during_step"
    AFTER_STEP = "after_step"
    ON_MATCH = "on_match"


class ToolBinding(Frozen):
    """`tool` runs with `arguments` (tool parameter → turn variable); its result lands in turn variable
    `result` (default: the tool id). `required`: its failure fails the turn; else it is recorded."""

    tool: Identifier
    when: ToolTiming = ToolTiming.ON_MATCH
    arguments: dict[Identifier, Identifier] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    required: bool = False
    result: Identifier | None = None

    @property
    def result_variable(self) -> str:
        return self.result or self.tool
