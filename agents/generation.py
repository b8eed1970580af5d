"""`generation`: the reply, written under the rules that apply, the active step, tool results and
suggested templates; after a violation, written again with the violations fed back.

The agent's persona is per tenant, so it goes into the input, never into the shared agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Final

from agno.agent import Agent
from focal.agents._common import (
    Entries,
    History,
    Id,
    ModelOutput,
    clip,
    history_section,
    join_sections,
    section,
    value_text,
)
from pydantic import AfterValidator, Field

from focal.alignment import AgentProfile, Rule, ScenarioStep, ToolOutcome, Verdict

__all__ = ["GeneratedReply", "generation_agent", "generation_input"]

MESSAGE_CHARS: Final = 4000
PERSONA_CHARS: Final = 1000
RULE_CHARS: Final = 400
TOOL_OUTPUT_CHARS: Final = 600
TEMPLATE_CHARS: Final = 600


def _reply(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError("the reply is empty")
    return text


class GeneratedReply(ModelOutput):
    """The reply and what it followed (for the audit)."""

    reply: Annotated[str, AfterValidator(_reply)] = Field(description="The message to send to the user, text only.")
    rule_ids: Entries[Id] = Field(default=(), description="Ids of the rules the reply follows.")
    template_ids: Entries[Id] = Field(default=(), description="Ids of the suggested templates the reply uses.")


INSTRUCTIONS = """\
You write the agent's next reply to the user.
- Speak as the agent under Agent, in the user's language, within the length given there.
- Follow every rule under Rules. Rules marked HARD must never be broken.
- Use only facts from the conversation and the Tool results. Never invent orders, amounts or policies.
- If a Step is given, do what it says (e.g. ask for what it collects).
- You may adapt the wording of Suggested templates.
- If Feedback lists violations, write a new reply that fixes every one.
reply: the message text only. rule_ids: the ids of the rules you followed. template_ids: the ids of the \
templates you used."""

generation_agent = Agent(
    name="generation",
    id="focal-generation",
    instructions=INSTRUCTIONS,
    output_schema=GeneratedReply,
    telemetry=False,
)
"""A template: no model, no db. The executor runs a per-call copy on the resolved model."""


def _tool_line(outcome: ToolOutcome) -> str:
    if outcome.ok:
        return f"- {outcome.tool_id}: {value_text(outcome.output, TOOL_OUTPUT_CHARS)}"
    return f"- {outcome.tool_id} failed: {clip(outcome.error or 'no detail', 200)}"


def generation_input(
    *,
    profile: AgentProfile,
    message: str,
    rules: Sequence[Rule] = (),
    step: ScenarioStep | None = None,
    tool_results: Sequence[ToolOutcome] = (),
    templates: Mapping[str, str] | None = None,
    violations: Sequence[Verdict] = (),
    history: History = (),
) -> str:
    """The generation prompt: the agent, the rules (by priority, then id; hard ones marked), the step, tool
    results (by tool id), suggested templates (by id), feedback on violations, the conversation, the message.

    Args:
        profile: the tenant's agent: name, persona, default language, longest reply.
        message: the user's message.
        rules: the rules that apply this turn.
        step: the active scenario step, if any.
        tool_results: this turn's tool outcomes (failed ones say so).
        templates: SUGGEST templates, rendered, by template id.
        violations: why the previous reply was refused (its failed verdicts); empty on a first attempt.
        history: earlier messages, oldest first, as (role, text).
    """
    agent = [
        f"name: {clip(profile.name, 80)}",
        f"persona: {clip(profile.persona, PERSONA_CHARS)}",
        f"default language: {profile.default_language}",
        f"longest reply: {profile.max_reply_chars} characters",
    ]
    ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
    rule_lines = [f"- {r.id}{' (HARD)' if r.hard else ''}: {clip(r.then, RULE_CHARS)}" for r in ordered]
    step_lines: list[str] = []
    if step is not None:
        step_lines.append(f"{step.id}: {clip(step.instructions, RULE_CHARS)}")
        if step.collects:
            step_lines.append("collects: " + ", ".join(spec.name for spec in step.collects))
    tools = [_tool_line(o) for o in sorted(tool_results, key=lambda o: o.tool_id)]
    suggested = [f"- {i}: {clip(text, TEMPLATE_CHARS)}" for i, text in sorted((templates or {}).items())]
    feedback = [f"- {v.rule_id}: {clip(v.reason, 200)}" for v in violations if not v.complies]
    if feedback:
        feedback.insert(0, "Your previous reply was refused. Write a new one that fixes:")
    return join_sections(
        section("Agent", agent),
        section("Rules", rule_lines),
        section("Step", step_lines),
        section("Tool results", tools),
        section("Suggested templates", suggested),
        section("Feedback", feedback),
        history_section(history),
        f"## Message\n{clip(message, MESSAGE_CHARS)}",
    )
