"""The alignment pipeline's LLM steps and their default task types."""

from __future__ import annotations

from enum import StrEnum

from focal.errors import NotFoundError
from focal.routing.tasks import TaskType

__all__ = ["ALL_STEPS", "STEP_DEFAULT_TASKS", "PipelineStep", "to_step"]

ALL_STEPS = "*"
"""The override wildcard: a tenant override for every step of an agent."""


class PipelineStep(StrEnum):
    """LLM-backed steps of the alignment workflow."""

    CONTEXT_EXTRACTION = "context_extraction"
    RULE_FILTERING = "rule_filtering"
    SCENARIO_FILTERING = "scenario_filtering"
    GENERATION = "generation"
    ENFORCEMENT = "enforcement"


STEP_DEFAULT_TASKS: dict[PipelineStep, TaskType] = {
    PipelineStep.CONTEXT_EXTRACTION: TaskType.CONTEXT_EXTRACTION,
    PipelineStep.RULE_FILTERING: TaskType.RULE_FILTERING,
    PipelineStep.SCENARIO_FILTERING: TaskType.SCENARIO_NAVIGATION,
    PipelineStep.GENERATION: TaskType.RESPONSE_GENERATION,
    PipelineStep.ENFORCEMENT: TaskType.ENFORCEMENT_JUDGING,
}


def to_step(step: str | PipelineStep) -> PipelineStep:
    """Parse a step name.

    Raises:
        NotFoundError: not one of the pipeline steps.
    """
    try:
        return PipelineStep(step)
    except ValueError:
        known = ", ".join(s.value for s in PipelineStep)
        raise NotFoundError(f"unknown step {step!r} (steps: {known})") from None
