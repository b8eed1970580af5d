"""Per-call agents: a fresh public `Agent` per call; Agno itself is left as the host has it."""

from __future__ import annotations

import pytest
from agno.agent import Agent
from agno.db.in_memory import InMemoryDb
from agno.metrics import SessionMetrics

from focal.execution._call_agents import per_call_agent
from focal.execution.testing import FakeModel

from .conftest import Harness


@pytest.fixture
def folds(monkeypatch: pytest.MonkeyPatch) -> list[SessionMetrics]:
    """Every session-metrics fold Agno makes (one per run that keeps its session's metrics)."""
    seen: list[SessionMetrics] = []
    original = SessionMetrics.accumulate_from_run

    def spy(self: SessionMetrics, run_metrics: object) -> None:
        seen.append(self)
        original(self, run_metrics)  # type: ignore[arg-type]

    monkeypatch.setattr(SessionMetrics, "accumulate_from_run", spy)
    return seen


async def test_a_host_agent_keeps_its_session_metrics_after_focal_ran(
    harness: Harness, folds: list[SessionMetrics]
) -> None:
    import agno.agent._storage as storage

    before = storage.update_session_metrics
    response = await harness.executor.run("hi", harness.ctx())
    assert (response.usage.input, response.usage.output) == (10, 5) and response.cost > 0
    assert storage.update_session_metrics is before, "Focal must not patch the host's Agno"
    folds.clear()
    host = Agent(model=FakeModel(default="ok"), db=InMemoryDb(), telemetry=False)
    await host.arun("one", session_id="host:s1")
    await host.arun("two", session_id="host:s1")
    assert len(folds) == 2
    metrics = await host.aget_session_metrics("host:s1")
    assert metrics is not None and (metrics.input_tokens, metrics.output_tokens) == (20, 10)


def test_models_are_evicted_least_recently_used_first(registry) -> None:  # type: ignore[no-untyped-def]
    from focal.execution import AgnoExecutor
    from focal.execution.testing import FakeModels
    from focal.providers import CallParams

    executor = AgnoExecutor(registry, model_factory=FakeModels().factory, model_cache_size=2)
    model = registry.parse_ref("openai/gpt-4o-mini")
    hot, cold, new = (CallParams(max_tokens=n) for n in (300, 400, 500))
    first = executor.agno_model(model, hot)
    executor.agno_model(model, cold)
    assert executor.agno_model(model, hot) is first  # used again: now the most recent
    executor.agno_model(model, new)  # evicts `cold`, not `hot`
    assert executor.agno_model(model, hot) is first
    assert [key[2] for key in executor._models] == [500, 300]


async def test_each_call_has_its_own_agent_and_run_bookkeeping() -> None:
    model = FakeModel(default="ok")

    def lookup(order: str) -> str:
        """Look an order up.

        Args:
            order: the order number
        """
        return f"order {order}"

    first = per_call_agent(model, instructions="acme", tools=[lookup])
    second = per_call_agent(model, instructions="globex")
    assert first is not second and first.model is second.model is model
    assert first.tools and not second.tools
    assert first.tool_hooks and not second.tool_hooks
    assert first.telemetry is False and first.db is None
    await first.arun("hi", session_id="acme:s1")
    await second.arun("hi", session_id="globex:s1")
    assert first.instructions == "acme" and second.instructions == "globex"
