"""Per-call agents skip the session bookkeeping that dies with their run; every other agent keeps it."""

from __future__ import annotations

import pytest
from agno.agent import Agent, _storage
from agno.db.in_memory import InMemoryDb
from agno.metrics import SessionMetrics

from focal.execution._call_agents import install_agno_hooks, new_template, own_tool_bookkeeping, per_call_copy
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


async def test_focal_calls_skip_the_dead_session_fold_and_keep_their_usage(
    harness: Harness, folds: list[SessionMetrics]
) -> None:
    response = await harness.executor.run("hi", harness.ctx())
    assert folds == []
    assert (response.usage.input, response.usage.output) == (10, 5)  # the run's own metrics are untouched
    assert response.cost > 0


async def test_a_host_agent_keeps_its_session_metrics(harness: Harness, folds: list[SessionMetrics]) -> None:
    await harness.executor.run("hi", harness.ctx())  # hooks installed and used
    folds.clear()
    host = Agent(model=FakeModel(default="ok"), db=InMemoryDb(), telemetry=False)
    await host.arun("one", session_id="host:s1")
    await host.arun("two", session_id="host:s1")
    assert len(folds) == 2
    metrics = await host.aget_session_metrics("host:s1")
    assert metrics is not None and (metrics.input_tokens, metrics.output_tokens) == (20, 10)


@pytest.mark.parametrize("keeps", ["db", "cache_session"])
async def test_a_per_call_agent_that_keeps_its_session_keeps_the_fold(keeps: str, folds: list[SessionMetrics]) -> None:
    install_agno_hooks()
    agent = per_call_copy(new_template(FakeModel(default="ok")))
    if keeps == "db":
        agent.db = InMemoryDb()
    else:
        agent.cache_session = True
    await agent.arun("one", session_id="s1")
    await agent.arun("two", session_id="s1")
    assert len(folds) == 2
    metrics = await agent.aget_session_metrics("s1")
    assert metrics is not None and metrics.input_tokens == 20


def test_hooks_install_once() -> None:
    install_agno_hooks()
    wrapper = _storage.update_session_metrics
    install_agno_hooks()
    assert _storage.update_session_metrics is wrapper
    assert not hasattr(wrapper.__wrapped__, "__wrapped__")  # wraps Agno's own function, not itself


def test_templates_are_evicted_least_recently_used_first(registry) -> None:  # type: ignore[no-untyped-def]
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
    assert [key[2] for key in executor._templates] == [500, 300]


def test_each_copy_has_its_own_run_bookkeeping() -> None:
    template = new_template(FakeModel(default="ok"))
    template._connectable_tools_initialized_on_run = ["left over"]  # type: ignore[attr-defined]
    first, second = per_call_copy(template), per_call_copy(template)
    own_tool_bookkeeping(first)
    own_tool_bookkeeping(second)
    first._connectable_tools_initialized_on_run.append("acme's toolkit")  # what Agno does during a run
    assert second._connectable_tools_initialized_on_run == []  # another tenant's run never closes it
    assert template._connectable_tools_initialized_on_run == ["left over"]
