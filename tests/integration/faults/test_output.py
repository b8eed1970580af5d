"""Fault injection, structured output and streamed usage (see `rig.py`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from focal.execution import (
    StreamInterruptedError,
)
from tests.fakes.outcomes import (
    err,
    ok,
)
from tests.fakes.provider_server import Reply
from tests.integration.faults.rig import (
    GPT4O,
    PRIMARY,
    PROVIDERS,
    SIE,
    Rig,
)

# --- structured output: the provider's constrained decoding ------------------------------------------


class Verdict(BaseModel):
    compliant: bool
    reason: str


def _constrained_schema(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema the request asked the provider to decode into."""
    if provider == "openai":
        assert body["response_format"]["type"] == "json_schema"
        return body["response_format"]["json_schema"]["schema"]
    if provider == "anthropic":
        assert body["output_config"]["format"]["type"] == "json_schema"
        return body["output_config"]["format"]["schema"]
    return body["format"]  # ollama


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_structured_output_uses_constrained_decoding(rig: Rig, provider: str) -> None:
    await rig.route(provider)
    rig.server.script(Reply.ok('{"compliant": true, "reason": "cites the policy"}'))
    verdict, response = await rig.executor.run_structured("Judge this reply.", Verdict, rig.ctx())
    assert verdict == Verdict(compliant=True, reason="cites the policy")
    assert response.model_id == PRIMARY[provider].split("/", 1)[1]
    (request,) = rig.server.requests
    schema = _constrained_schema(provider, request.json)
    assert set(schema["properties"]) == {"compliant", "reason"} and set(schema["required"]) == {"compliant", "reason"}


async def test_a_server_that_ignores_stream_options_needs_stream_usage_false(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenAI-compatible servers that send no usage chunk (older Azure api-versions, vLLM/TGI): by default
    their streams cannot be told from a cut one; `stream_usage: false` on the provider accepts them."""
    await rig.route("openai")
    rig.server.honours_stream_usage = False
    rig.server.script(Reply.ok("A complete answer."))
    strict = await rig.call("stream")
    rig.check(strict, requests=1, answered=None, error=StreamInterruptedError, written=[err(GPT4O, SIE, billed=None)])
    registry = rig.executor.registry
    relaxed = dataclasses.replace(registry.connection("openai"), stream_usage=False)
    monkeypatch.setitem(registry._connections, "openai", relaxed)  # the registry is shared: undone after
    rig.executor.caller._models.clear()  # models are built per connection settings
    since = rig.mark()
    rig.server.script(Reply.ok("A complete answer."))
    outcome = await rig.call("stream")
    rig.check(outcome, since=since, requests=1, answered=GPT4O, written=[ok(GPT4O)], content="A complete answer.")
    # no usage came with it: the answer is priced from estimated counts (and says so), never at $0
    assert outcome.final.metadata["usage_estimated"] is True
    assert outcome.final.usage.output == len("A complete answer.") // 3 + 1 and outcome.final.cost > 0
    assert rig.records[-1].cost_usd == outcome.final.cost
