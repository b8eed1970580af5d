"""Real calls on the local model through Focal's executor, resolved by the embedded default (no provider
key in the environment): one structured-output call, one tool turn, one whole alignment turn. They assert
shape, never wording."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agno.agent import Agent
from focal.tools import seed_demo_data
from pydantic import BaseModel, Field

from focal import Focal, FocalSettings
from focal.alignment import TurnResult
from focal.execution import ExecutionContext
from focal.local import LocalModelServer
from focal.routing import ResolutionSource
from focal.telemetry import TelemetryAnalytics

pytestmark = pytest.mark.llm

SUPPORT = Path(__file__).resolve().parents[2] / "configs" / "alignment" / "support"


class City(BaseModel):
    city: str = Field(description="Name of the city")
    country: str = Field(description="Country the city is in")


@pytest.fixture
async def focal(
    local_server: LocalModelServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Focal]:
    monkeypatch.setenv("FOCAL_EMBEDDED_DEFAULT", "true")  # (the test suite turns it off elsewhere)
    # a whole turn on 2 shared cores takes 15-45 s (every step and rewrite is a call): the shape is under
    # test here, not the default 60 s turn deadline
    app = await Focal.create(FocalSettings(data_dir=tmp_path, turn_timeout_seconds=300))
    try:
        assert await app.start_local_model() == local_server.base_url  # the process's one server, reused
        yield app
    finally:
        await app.aclose()
    assert local_server.running  # the session's user still holds it


def _ctx(step: str) -> ExecutionContext:
    return ExecutionContext(tenant_id="acme", agent_id="support", step_name=step)


async def test_without_keys_every_step_resolves_to_the_local_model(focal: Focal) -> None:
    for res in await focal.resolver.aresolve_all("acme", "support"):
        assert (res.model.provider, res.source) == ("local", ResolutionSource.EMBEDDED_DEFAULT)
        assert "embedded default" in res.reason


async def test_a_structured_output_call(focal: Focal) -> None:
    template = Agent(name="city", description="You describe cities.", output_schema=City, telemetry=False)
    began = time.perf_counter()
    result, response = await focal.executor.run_agent(
        template, "Describe Paris.", _ctx("generation"), max_tokens=64, temperature=0
    )
    latency = time.perf_counter() - began
    assert isinstance(result, City) and result.city and result.country
    assert (response.provider, response.model_id) == ("local", "smollm2-135m-instruct")
    assert response.usage.input > 0 and response.usage.output > 0
    print(f"structured call on the local model: {latency:.2f} s")  # (shown with -s)


async def test_a_tool_turn(focal: Focal) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
            city: Name of the city.
        """
        calls.append(city)
        return f'{{"city": "{city}", "temp_c": 21, "sky": "sunny"}}'

    template = Agent(name="weather", description="You answer weather questions.", tools=[get_weather], telemetry=False)
    result, response = await focal.executor.run_agent(
        template, "What is the weather in Berlin?", _ctx("generation"), max_tokens=64, temperature=0
    )
    assert len(calls) == 1  # called once, then answered (no loop)
    assert isinstance(result, str) and result.strip()
    assert response.provider == "local"


async def test_whole_turns_through_the_workflow(focal: Focal) -> None:
    seed_demo_data(focal.engine)
    focal.alignment.import_folder(SUPPORT, "acme", created_by="tests")
    session = focal.session_id("acme", "support", "c1")
    messages = ["Hi there", "Where is my order ORD-1001?"]
    for number, message in enumerate(messages, start=1):
        began = time.perf_counter()
        result = await focal.turn("acme", "support", "c1", message, user_id="u-1")
        print(f"turn {number} on the local model: {time.perf_counter() - began:.2f} s")  # (shown with -s)
        assert isinstance(result, TurnResult) and result.turn_number == number and result.reply
        assert result.enforcement.status  # a verdict
        assert result.models and {m.model for m in result.models} == {"local/smollm2-135m-instruct"}
        assert all(
            m.reason.startswith("no ANTHROPIC_API_KEY") or "no OPENAI_API_KEY" in m.reason for m in result.models
        )
    records = await focal.turns.aget("acme", session)
    assert [r.turn_number for r in records] == [1, 2]
    await focal.telemetry.flush()
    analytics = TelemetryAnalytics(focal.engine)
    calls = analytics.calls(tenant="acme")
    assert calls and {c.run_id for c in calls} == {r.run_id for r in records}
    assert {c.provider for c in calls} == {"local"}
    assert {r.status for r in analytics.runs(tenant="acme")} == {"completed"}
