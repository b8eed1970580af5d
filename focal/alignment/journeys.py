"""Scenario moves decided without a model: expression transitions, variable validation, skippable steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from focal.alignment._base import VariableSpec
from focal.alignment.config import AlignmentConfig
from focal.alignment.scenarios import ScenarioStep, StepTransition
from focal.alignment.verdicts import Verdicts
from focal.errors import NotFoundError

__all__ = [
    "SkipPath",
    "TransitionDecision",
    "next_step",
    "skippable_steps",
    "user_values",
    "validate_variables",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionDecision:
    """Where a step goes next, as far as it is decided without a model.

    - `to`: the step an expression transition decided (None: not decided).
    - `for_model`: text transitions the model decides first (those ranked above `to`, or all of them
      when nothing was decided); if it takes none, `to` stands.
    - `not_taken`: expression transitions that are false or cannot decide, as (to, reason).
    """

    to: str | None
    reason: str
    for_model: tuple[StepTransition, ...] = ()
    not_taken: tuple[tuple[str, str], ...] = ()


def _step(config: AlignmentConfig, scenario_id: str, step_id: str) -> ScenarioStep:
    step = config.steps.get((scenario_id, step_id))
    if step is None:
        raise NotFoundError(f"scenario {scenario_id!r} has no step {step_id!r} in version {config.version}")
    return step


def next_step(
    config: AlignmentConfig, scenario_id: str, step_id: str, variables: Mapping[str, Any]
) -> TransitionDecision:
    """Evaluate the step's transitions by priority (highest first, then as written): the first expression
    transition that is true is taken; an unknown one is not; text ones are left to the model.

    Raises:
        NotFoundError: the scenario has no such step in this version.
    """
    step = _step(config, scenario_id, step_id)
    if step.terminal or not step.transitions:
        return TransitionDecision(to=None, reason="terminal step" if step.terminal else "no transitions")
    verdicts = Verdicts(config, variables)
    for_model: list[StepTransition] = []
    not_taken: list[tuple[str, str]] = []
    for transition in sorted(step.transitions, key=lambda t: -t.priority):
        if transition.when_expression is None:
            for_model.append(transition)
            continue
        verdict, why = verdicts("when_expression", transition.when_expression)
        if verdict is True and transition.when is None:
            return TransitionDecision(
                to=transition.to, reason=why, for_model=tuple(for_model), not_taken=tuple(not_taken)
            )
        if verdict is True:
            for_model.append(transition)  # the expression holds; its text is the model's to judge
        else:
            not_taken.append((transition.to, why))
    reason = "left to the model" if for_model else "no transition holds"
    return TransitionDecision(to=None, reason=reason, for_model=tuple(for_model), not_taken=tuple(not_taken))


def validate_variables(
    step: ScenarioStep, candidate_values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Split this turn's candidate values into those the step accepts (converted to their type) and
    those it rejects, with the reason. Absent (None) values are neither."""
    specs = {spec.name: spec for spec in step.collects}
    return _split(specs, candidate_values, lambda name: f"step {step.id!r} does not collect {name!r}")


def user_values(config: AlignmentConfig, candidate_values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a model's candidate values read from the user's message into those accepted (converted to
    their type) and those rejected, with the reason.

    Only variables some scenario step collects come from the user: the others (the profile's, the
    tools') are never taken from a message, so a customer claiming to be "gold" changes no tier
    (`config.collected` gives each name's type and pattern).
    """
    return _split(config.collected, candidate_values, lambda name: f"{name!r} is not collected from the user")


def _split(
    specs: Mapping[str, VariableSpec], candidate_values: Mapping[str, Any], unknown: Callable[[str], str]
) -> tuple[dict[str, Any], dict[str, str]]:
    accepted: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    for name, value in candidate_values.items():
        if value is None:
            continue
        spec = specs.get(name)
        if spec is None:
            rejected[name] = unknown(name)
            continue
        converted = spec.validate_value(value)
        if converted is not None:
            accepted[name] = converted
        elif spec.type == "string":
            rejected[name] = f"{value!r} does not match {spec.pattern}"
        else:
            rejected[name] = f"{value!r} is not a valid {spec.type}"
    return accepted, rejected


@dataclass(frozen=True, slots=True, kw_only=True)
class SkipPath:
    """`skipped`: the steps passed over, in order; `landing`: the step the conversation lands on."""

    skipped: tuple[str, ...]
    landing: str


def skippable_steps(config: AlignmentConfig, scenario_id: str, step_id: str, variables: Mapping[str, Any]) -> SkipPath:
    """From `step_id`, skip each step that is `skippable`, collects variables and already has valid
    values for all of them, while an expression transition decides where to go next.

    Raises:
        NotFoundError: the scenario has no such step in this version.
    """
    skipped: list[str] = []
    current = step_id
    while current not in skipped:
        step = _step(config, scenario_id, current)
        if not step.skippable or step.terminal or not step.collects:
            break
        if any(spec.validate_value(variables.get(spec.name)) is None for spec in step.collects):
            break
        decision = next_step(config, scenario_id, current, variables)
        if decision.to is None or decision.for_model:
            break
        skipped.append(current)
        current = decision.to
    return SkipPath(skipped=tuple(skipped), landing=current)
