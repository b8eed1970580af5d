"""`enforcement`: the judge of hard rules that have no `check` expression, one verdict per rule.

Fail closed: "unclear", a missing verdict or conflicting verdicts count as a violation
(`JudgeResult.complies`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal

from agno.agent import Agent
from focal.agents._common import Entries, Id, ModelOutput, ShortText, clip, join_sections, section, value_text
from pydantic import BeforeValidator, Field

from focal.alignment import Rule

__all__ = ["JudgeResult", "JudgeVerdict", "VerdictValue", "enforcement_agent", "judge_input"]

RULE_CHARS: Final = 400
VALUE_CHARS: Final = 200
MAX_VALUES: Final = 40
"""Known values shown to the judge at most (by name)."""

VerdictValue = Literal["complies", "violates", "unclear"]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class JudgeVerdict(ModelOutput):
    """The judge's verdict on one hard rule."""

    rule_id: Id = Field(description="The rule id, copied exactly from the Rules list.")
    verdict: Annotated[VerdictValue, BeforeValidator(_lower)] = Field(description="complies, violates or unclear.")
    reason: ShortText = Field(description="One short sentence.")


class JudgeResult(ModelOutput):
    """One verdict per hard rule judged."""

    verdicts: Entries[JudgeVerdict] = Field(description="Exactly one verdict for every listed rule.")

    def verdict_on(self, rule_id: str) -> JudgeVerdict | None:
        """The verdict that decides a rule: its first that is not `complies` when it was judged more than
        once (fail closed), else its first; None when it was not judged."""
        found = [v for v in self.verdicts if v.rule_id == rule_id]
        return next((v for v in found if v.verdict != "complies"), found[0] if found else None)

    def complies(self, rule_id: str) -> bool:
        """True only if the rule was judged and every verdict on it is `complies` (fail closed)."""
        verdict = self.verdict_on(rule_id)
        return verdict is not None and verdict.verdict == "complies"


INSTRUCTIONS = """\
You check a reply an agent is about to send against hard rules. You never rewrite the reply.
For every rule under Rules give exactly one verdict:
- rule_id: copied exactly.
- verdict: "complies", "violates" or "unclear" (when you cannot tell).
- reason: one short sentence.
Judge the reply only; take Known values as true facts."""

enforcement_agent = Agent(
    name="enforcement",
    id="focal-enforcement",
    instructions=INSTRUCTIONS,
    output_schema=JudgeResult,
    telemetry=False,
)
"""A template: no model, no db. The executor runs a per-call copy on the resolved model."""


def judge_input(reply: str, hard_rules: Sequence[Rule], variables: Mapping[str, Any]) -> str:
    """The judge prompt: the hard rules by id (what each requires, and when), the turn's known values (by
    name, none of the empty ones, at most `MAX_VALUES`), then the reply, whole and verbatim.

    Args:
        reply: the reply to judge.
        hard_rules: the hard rules to judge it against.
        variables: the turn's variables (the user's message among them).
    """
    rules = []
    for rule in sorted(hard_rules, key=lambda r: r.id):
        when = f" (applies when: {clip(rule.when, RULE_CHARS)})" if rule.when else ""
        rules.append(f"- {rule.id}: {clip(rule.then, RULE_CHARS)}{when}")
    names = [n for n in sorted(variables) if n != "reply" and variables[n] is not None][:MAX_VALUES]
    values = [f"{n}: {value_text(variables[n], VALUE_CHARS)}" for n in names]
    return join_sections(
        section("Rules", rules) or "## Rules\nnone",
        section("Known values", values),
        f"## Reply\n{reply.strip()}",  # verbatim and whole: the judge sees exactly what would be sent
    )
