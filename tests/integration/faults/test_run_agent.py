"""`run_agent` over the real provider SDKs: a step's Agent definition, typed output, fail-over (see `rig.py`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agno.agent import Agent
from pydantic import BaseModel

from tests.fakes.outcomes import err, ok
from tests.fakes.provider_server import Reply
from tests.integration.faults.rig import FALLBACK, PRIMARY, PROVIDERS, PU, Rig


class Verdict(BaseModel):
    compliant: bool
    reason: str


JUDGE = Agent(
    name="judge",
    description="You check support replies against the shop's rules.",
    instructions=["Judge only the reply you are given.", "Cite the rule you apply."],
    output_schema=Verdict,
    telemetry=False,
)
ANSWER = Reply.ok('{"compliant": true, "reason": "cites the policy"}')


def _system_text(provider: str, body: dict[str, Any]) -> str:
    """The system prompt a request carried."""
    if provider == "anthropic":
        system = body["system"]
        return system if isinstance(system, str) else " ".join(part["text"] for part in system)
    return next(m["content"] for m in body["messages"] if m["role"] in ("system", "developer"))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_step_agent_runs_on_the_resolved_provider(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    rig.server.script(ANSWER)
    verdict, response = await rig.executor.run_agent(JUDGE, "Judge this reply.", rig.ctx(), user_id="u-1")
    assert verdict == Verdict(compliant=True, reason="cites the policy")
    rig.check(response, requests=1, answered=PRIMARY[provider], written=[ok(PRIMARY[provider])])
    (request,) = rig.server.requests
    system = _system_text(provider, request.json)
    assert "You check support replies" in system and "Cite the rule you apply." in system
    assert JUDGE.model is None and response.metadata["user_id"] == "u-1"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_step_agent_fails_over_to_the_next_provider(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    rig.server.script(Reply.error(503), Reply.error(503), ANSWER)
    verdict, response = await rig.executor.run_agent(JUDGE, "Judge this reply.", rig.ctx())
    assert verdict.compliant and response.fallback_used
    primary, fallback = PRIMARY[provider], FALLBACK[provider]
    rig.check(
        response,
        requests=3,
        answered=fallback,
        written=[err(primary, PU), err(primary, PU), ok(fallback, hop=1, cause=PU)],
        content=json.dumps({"compliant": True, "reason": "cites the policy"}, separators=(",", ":")),
    )
