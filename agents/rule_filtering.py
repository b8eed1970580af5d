"""`rule_filtering`: one batched call that says, for each candidate rule, whether it applies.

A candidate the model leaves out does not apply (the caller records "no verdict").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from agno.agent import Agent
from focal.agents._common import Entries, Id, ModelOutput, ShortText, clip, join_sections, section, situation_section
from pydantic import Field

from focal.alignment import RankedRule, Rule, Situation

__all__ = ["RuleFilterDecision", "RuleFilterResult", "rule_filtering_agent", "rule_filtering_input", "rule_lines"]

MESSAGE_CHARS: Final = 4000
RULE_CHARS: Final = 300


class RuleFilterDecision(ModelOutput):
    """Whether one candidate rule applies to this message, and why."""

    rule_id: Id = Field(description="The rule id, copied exactly from the Rules list.")
    applies: bool = Field(description="True if the rule's condition holds for this message, else false.")
    reason: ShortText = Field(description="One short sentence.")


class RuleFilterResult(ModelOutput):
    """One decision per candidate rule."""

    decisions: Entries[RuleFilterDecision] = Field(description="Exactly one decision for every listed rule.")

    def applied_ids(self) -> tuple[str, ...]:
        """The ids the model said apply (a rule answered twice applies only if every answer says so)."""
        said: dict[str, bool] = {}
        for decision in self.decisions:
            said[decision.rule_id] = said.get(decision.rule_id, True) and decision.applies
        return tuple(rule_id for rule_id, applies in said.items() if applies)


INSTRUCTIONS = """\
You decide which rules apply to the user's latest message. You never reply to the user.
For every rule under Rules give exactly one decision:
- rule_id: copied exactly.
- applies: true if the rule's "when" condition holds for this message, else false. When unsure: false.
- reason: one short sentence."""

rule_filtering_agent = Agent(
    name="rule_filtering",
    id="focal-rule-filtering",
    instructions=INSTRUCTIONS,
    output_schema=RuleFilterResult,
    telemetry=False,
)
"""A template: no model, no db. The executor runs a per-call copy on the resolved model."""


def _rule(candidate: RankedRule | Rule) -> Rule:
    return candidate.rule if isinstance(candidate, RankedRule) else candidate


def rule_filtering_input(message: str, situation: Situation | None, candidates: Sequence[RankedRule | Rule]) -> str:
    """The filtering prompt: the message, its intent and values, then every candidate rule by id.

    Args:
        message: the user's message.
        situation: what context extraction found (intent, variable values), if it ran.
        candidates: the rules to judge (retrieval's candidates, or rules); listed by id.
    """
    return join_sections(
        f"## Message\n{clip(message, MESSAGE_CHARS)}",
        situation_section(situation),
        section("Rules", rule_lines(candidates)) or "## Rules\nnone",
    )


def rule_lines(candidates: Sequence[RankedRule | Rule]) -> list[str]:
    """One line per rule to judge, by id: `- id: name. When: condition`."""
    rules = sorted((_rule(c) for c in candidates), key=lambda r: r.id)
    return [f"- {r.id}: {clip(r.name, 80)}. When: {clip(r.when or r.name, RULE_CHARS)}" for r in rules]
