"""Each step agent runs end to end on a per-call copy with a fake Agno model and yields its typed output;
the shared template is left untouched (no model, no session), so tenants can share it."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import pytest
from agno.agent import Agent
from agno.run import RunStatus
from focal.agents import (
    STEP_AGENTS,
    GeneratedReply,
    JudgeResult,
    RuleFilterResult,
    ScenarioDecision,
    SituationSnapshot,
)

from focal.execution.testing import FakeModel

ANSWERS: dict[str, tuple[dict[str, Any], type]] = {
    "context_extraction": (
        {
            "intent": "refund_request",
            "language": "en",
            "facts": ["item broken"],
            "variables": [{"name": "order_id", "value": "ORD-12345", "confidence": 0.9}],
            "scenario_signal": "refund",
            "wants_to_leave": False,
        },
        SituationSnapshot,
    ),
    "rule_filtering": (
        {"decisions": [{"rule_id": "greet", "applies": False, "reason": "no greeting"}]},
        RuleFilterResult,
    ),
    "scenario_filtering": (
        {"action": "start", "scenario_id": "refund", "step_id": None, "reason": "asks for a refund"},
        ScenarioDecision,
    ),
    "generation": (
        {"reply": "Sure, what is your order number?", "rule_ids": ["order_status"], "template_ids": []},
        GeneratedReply,
    ),
    "enforcement": (
        {"verdicts": [{"rule_id": "refund_limit", "verdict": "complies", "reason": "no amount"}]},
        JudgeResult,
    ),
}


def _copy(template: Agent, *replies: Any) -> tuple[Agent, FakeModel]:
    model = FakeModel(id="fake-step", replies=deque(replies))
    return template.deep_copy(update={"model": model}), model


@pytest.mark.parametrize("step", list(ANSWERS))
async def test_a_step_agent_runs_on_a_copy_and_yields_its_schema(step: str) -> None:
    template = STEP_AGENTS[step]
    answer, schema = ANSWERS[step]
    seen: list[Any] = []

    def respond(messages: list[Any]) -> str:
        seen.extend(messages)
        return json.dumps(answer)

    agent, model = _copy(template, respond)
    out = await agent.arun("## Message\nI want a refund", session_id=f"acme:{step}", user_id="u1")
    assert out.status is RunStatus.completed and model.calls == 1
    assert isinstance(out.content, schema) and out.content == schema.model_validate(answer)
    system = seen[0].content
    assert seen[0].role == "system" and template.instructions in system
    assert seen[-1].content == "## Message\nI want a refund"
    assert template.model is None and template.session_id is None and template.db is None


async def test_copies_for_two_tenants_run_concurrently_without_touching_the_template() -> None:
    template = STEP_AGENTS["generation"]

    def reply(text: str) -> str:
        return json.dumps({"reply": text, "rule_ids": [], "template_ids": []})

    acme, acme_model = _copy(template, reply("acme reply"))
    globex, globex_model = _copy(template, reply("globex reply"))
    first, second = await asyncio.gather(
        acme.arun("hi", session_id="acme:s1", user_id="a"), globex.arun("hi", session_id="globex:s1", user_id="g")
    )
    assert isinstance(first.content, GeneratedReply) and isinstance(second.content, GeneratedReply)
    assert (first.content.reply, second.content.reply) == ("acme reply", "globex reply")
    assert (acme_model.calls, globex_model.calls) == (1, 1)
    assert template.model is None and template.session_id is None


async def test_an_answer_outside_the_schema_is_not_typed() -> None:
    # G16: Agno still completes the run with the raw text; the executor must refuse it (never parse it here)
    agent, _ = _copy(STEP_AGENTS["enforcement"], json.dumps({"verdict": "pass", "rule": "x"}))
    out = await agent.arun("## Reply\nhi", session_id="acme:s2")
    assert not isinstance(out.content, JudgeResult)
