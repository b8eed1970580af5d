"""What the end-to-end tests script: a step's answer as its model would give it, and a turn through `arun`."""

from __future__ import annotations

import json
from typing import Any

from focal.workflows import session_id

from focal.alignment import TurnInput, TurnResult
from focal.telemetry import LLMCallRecord, WorkflowRunRecord


class Sink:
    """A run tracker's recorder that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[LLMCallRecord] = []
        self.runs: list[WorkflowRunRecord] = []

    def record_call(self, record: LLMCallRecord) -> None:
        self.calls.append(record)

    def record_run(self, record: WorkflowRunRecord) -> None:
        self.runs.append(record)


def snapshot(intent: str, signal: str | None = None, *, rules: dict[str, bool] | None = None, **variables: Any) -> str:
    """The extraction's answer; `rules`: its verdicts on the rules listed in its prompt (none by default,
    so rule filtering is asked about every candidate)."""
    return json.dumps(
        {
            "intent": intent,
            "language": "en",
            "facts": [],
            "variables": [{"name": k, "value": v, "confidence": 0.9} for k, v in variables.items()],
            "scenario_signal": signal,
            "wants_to_leave": False,
            "rules": [{"rule_id": r, "applies": a, "reason": "scripted"} for r, a in (rules or {}).items()],
        }
    )


def decisions(**applies: bool) -> str:
    return json.dumps({"decisions": [{"rule_id": r, "applies": a, "reason": "scripted"} for r, a in applies.items()]})


def scenario(action: str, scenario_id: str | None = None, step_id: str | None = None) -> str:
    return json.dumps({"action": action, "scenario_id": scenario_id, "step_id": step_id, "reason": "scripted"})


def steps_called(executor: Any) -> list[str]:
    """The steps of the executor's calls since the last `steps_called`, in order (then forgotten)."""
    names = [ctx.step_name for _, ctx in executor.calls]
    executor.calls.clear()
    return names


def verdicts(**by_rule: str) -> str:
    return json.dumps({"verdicts": [{"rule_id": r, "verdict": v, "reason": "judged"} for r, v in by_rule.items()]})


def reply(text: str) -> str:
    return json.dumps({"reply": text, "rule_ids": [], "template_ids": []})


COMPLIES = verdicts(no_profanity="complies", no_delivery_promises="complies")
"""The judge's answer when the support agent's two judged hard rules hold."""


async def turn(
    workflow: Any, tenant: str, message: str, conversation: str = "c1", *, user_id: str | None = "u-42"
) -> TurnResult:
    out = await workflow.arun(
        input=TurnInput(message=message),
        session_id=session_id(tenant, "support", conversation),
        user_id=user_id,
        session_state={"tenant_id": tenant, "agent_id": "support"},
    )
    assert isinstance(out.content, TurnResult), out.content
    return out.content
