"""`context_extraction`: what the user's message says, as a typed `SituationSnapshot`.

The model names the intent and language, lists facts, proposes values for the variables the agent
knows (each with a confidence) and says whether the message points at a scenario or wants to leave the
active one. Proposed values are candidates: `focal.alignment.validate_variables` decides which a step
accepts (`SituationSnapshot.variables_dict()` gives it their dict).

The same call judges the rules a model must judge that are already in play before the message is read
(`extraction_input(..., rules=...)`): one understanding call instead of two. Rule filtering asks the model
only about candidates this call did not judge (see `workflows/steps/filtering.py`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Annotated, Any, Final

from agno.agent import Agent
from focal.agents._common import (
    Entries,
    History,
    Id,
    ModelOutput,
    OptionalId,
    ShortText,
    clip,
    history_section,
    join_sections,
    section,
    value_text,
)
from focal.agents.rule_filtering import RuleFilterDecision, rule_lines
from pydantic import AfterValidator, BeforeValidator, Field

from focal.alignment import AlignmentConfig, AlignmentState, Rule, VariableSpec

__all__ = [
    "MIN_VARIABLE_CONFIDENCE",
    "CandidateVariable",
    "SituationSnapshot",
    "context_extraction_agent",
    "extraction_input",
]

MIN_VARIABLE_CONFIDENCE: Final = 0.5
"""Candidate values the model is less sure of are left out of `variables_dict()` by default."""
MAX_FACTS: Final = 10
"""Facts kept from a chatty model's answer (the first ones)."""
MESSAGE_CHARS: Final = 4000
_LANGUAGE = re.compile(r"^([a-z]{2})(?:[-_][a-z]{2})?$")


def _language(value: Any) -> Any:
    """`en`, `EN`, `en-US`, `pt_BR` → the two-letter code; anything else (e.g. "English") → ""."""
    if not isinstance(value, str):
        return value
    found = _LANGUAGE.match(value.strip().lower())
    return found.group(1) if found else ""


def _intent(value: str) -> str:
    """`Track order` → `track_order` (at most 64 characters)."""
    return "_".join(value.strip().lower().replace("-", " ").split())[:64]


class CandidateVariable(ModelOutput):
    """A value the message (or the conversation) gives for one of the agent's variables."""

    name: Id = Field(description="A variable name copied from the Variables list.")
    value: ShortText = Field(description="The value the user gave, as text (e.g. ORD-12345, 42, true).")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are that the user gave it: 0 to 1.")


class SituationSnapshot(ModelOutput):
    """The message as the model read it."""

    intent: Annotated[str, AfterValidator(_intent)] = Field(
        default="", description="What the user wants, as a short snake_case label (e.g. track_order); empty if unclear."
    )
    language: Annotated[str, BeforeValidator(_language)] = Field(
        default="", description="ISO 639-1 code of the message's language (e.g. en, fr)."
    )
    facts: Annotated[tuple[ShortText, ...], AfterValidator(lambda facts: facts[:MAX_FACTS])] = Field(
        default=(), description="Up to 5 short facts the user states."
    )
    variables: Entries[CandidateVariable] = Field(
        default=(), description="Values the user gave for listed variables; never guessed."
    )
    scenario_signal: OptionalId = Field(
        default=None, description="Id of the listed scenario the message asks for, or null."
    )
    wants_to_leave: bool = Field(
        default=False, description="True only if the user wants to stop or leave the active scenario."
    )
    rules: Entries[RuleFilterDecision] = Field(
        default=(), description="Exactly one decision for every rule listed under Rules (none if no Rules)."
    )

    def rule_verdicts(self, listed: Collection[str]) -> dict[str, RuleFilterDecision]:
        """The decisions on rules that were `listed` in the prompt, by id (a rule answered twice applies
        only if every answer says so); decisions on other ids are ignored."""
        verdicts: dict[str, RuleFilterDecision] = {}
        for decision in self.rules:
            if decision.rule_id not in listed:
                continue
            kept = verdicts.get(decision.rule_id)
            if kept is None or (kept.applies and not decision.applies):
                verdicts[decision.rule_id] = decision
        return verdicts

    def variables_dict(self, min_confidence: float = MIN_VARIABLE_CONFIDENCE) -> dict[str, str]:
        """Candidate values by name, for `validate_variables`: those at `min_confidence` or above, the
        most confident one when a name comes twice (the first of equals), empty values left out."""
        best: dict[str, CandidateVariable] = {}
        for candidate in self.variables:
            if candidate.confidence < min_confidence or not candidate.value:
                continue
            kept = best.get(candidate.name)
            if kept is None or candidate.confidence > kept.confidence:
                best[candidate.name] = candidate
        return {name: best[name].value for name in sorted(best)}


INSTRUCTIONS = """\
You read the user's latest message in a customer conversation and describe it. You never reply to the user.
- intent: what the user wants, as a short snake_case label (e.g. track_order); "" if unclear.
- language: the ISO 639-1 code of the message's language (e.g. en).
- facts: up to 5 short facts the user states.
- variables: only names from the Variables list, only values the user really gave (in this message or \
earlier); value as text; confidence from 0 to 1. Never guess a value.
- scenario_signal: the id of a listed scenario the message asks for, else null.
- wants_to_leave: true only if the user wants to stop or leave the active scenario.
- rules: for every rule under Rules exactly one decision: rule_id copied exactly; applies true if the \
rule's "when" condition holds for this message, else false (when unsure: false); reason one short sentence."""

context_extraction_agent = Agent(
    name="context_extraction",
    id="focal-context-extraction",
    instructions=INSTRUCTIONS,
    output_schema=SituationSnapshot,
    telemetry=False,
)
"""A template: no model, no db. The executor runs a per-call copy on the resolved model."""


# ------------------------------------------------------------------------------------------------ input


def _variable_specs(config: AlignmentConfig) -> dict[str, VariableSpec]:
    """The agent's variables by name: the profile's, then those scenario steps collect (first one wins)."""
    specs: dict[str, VariableSpec] = {spec.name: spec for spec in reversed(config.profile.variables)}
    return specs | {name: spec for name, spec in config.collected.items() if name not in specs}


def _variable_line(spec: VariableSpec, asked: bool, known: Any) -> str:
    parts = [f"- {spec.name} ({spec.type}"]
    if spec.pattern:
        parts.append(f", pattern {spec.pattern}")
    parts.append(")")
    if spec.description:
        parts.append(f": {clip(spec.description, 160)}")
    if asked:
        parts.append(" [asked now]")
    if known is not None:
        parts.append(f" [known: {value_text(known, 80)}]")
    return "".join(parts)


def extraction_input(
    message: str,
    config: AlignmentConfig,
    state: AlignmentState,
    *,
    history: History = (),
    rules: Sequence[Rule] = (),
) -> str:
    """The extraction prompt: the scenarios, the variables (those the active step collects marked
    `[asked now]`, known values shown), the rules to judge, where the session is, the recent conversation,
    then the message.

    Args:
        message: the user's message.
        config: the session's configuration version.
        state: the session's state (position and known variables).
        history: earlier messages, oldest first, as (role, text).
        rules: rules whose "when" the model judges in the same call (listed by id).
    """
    step = None
    position = "none"
    if state.active_scenario and state.active_scenario in config.scenarios:
        scenario = config.scenarios[state.active_scenario]
        step = config.steps.get((scenario.id, state.active_step or ""))
        position = f"{scenario.id} ({clip(scenario.name, 80)})"
        if step is not None:
            position += f", step {step.id}: {clip(step.instructions, 200)}"
    asked = {spec.name for spec in step.collects} if step is not None else set()
    specs = _variable_specs(config)
    variables = [_variable_line(specs[n], n in asked, state.variables.get(n)) for n in sorted(specs)]
    scenarios = [
        f"- {s.id}: {clip(s.name, 80)}. When: {clip(s.entry_when or s.description or s.name, 200)}"
        for s in (config.scenarios[i] for i in sorted(config.scenarios))
    ]
    # what a tenant's configuration fixes comes first, what this turn changes last: a server that keeps
    # prompt states (the local model's) reads the shared beginning once
    return join_sections(
        section("Scenarios", scenarios) or "## Scenarios\nnone",
        section("Variables", variables) or "## Variables\nnone",
        section("Rules", rule_lines(rules)),
        f"## Active scenario\n{position}",
        history_section(history),
        f"## Message\n{clip(message, MESSAGE_CHARS)}",
    )
