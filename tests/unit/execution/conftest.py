"""An executor over FakeModels, a real resolver on a migrated SQLite file, and recorded sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from focal.execution import AgnoExecutor, CircuitBreakers, ExecutionContext, ResilientExecutor, RetryPolicy
from focal.execution.breaker import BreakerPolicy
from focal.execution.testing import FakeModels
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository
from focal.storage import make_async_engine, make_sync_engine, upgrade
from focal.telemetry.records import LLMCallRecord


@dataclass
class Harness:
    fakes: FakeModels
    executor: ResilientExecutor
    resolver: ModelResolver
    overrides: OverrideRepository
    records: list[LLMCallRecord] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def ctx(self, step: str = "generation", **kw) -> ExecutionContext:  # type: ignore[no-untyped-def]
        base = dict(tenant_id="acme", agent_id="support", session_id="acme:s1", step_name=step, run_id="run-1")
        base.update(kw)
        return ExecutionContext(**base)


@pytest.fixture
async def harness(tmp_path: Path, registry: ModelRegistry, catalogs: AgentCatalogs) -> AsyncIterator[Harness]:
    url = f"sqlite:///{tmp_path / 'exec.db'}"
    engine = make_sync_engine(url)
    upgrade(engine)
    async_engine = make_async_engine(url)
    overrides = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    resolver = ModelResolver(registry, catalogs, overrides)
    fakes = FakeModels(default="fine answer")
    h = Harness(fakes=fakes, executor=None, resolver=resolver, overrides=overrides)  # type: ignore[arg-type]

    async def sleep(seconds: float) -> None:
        h.sleeps.append(seconds)

    h.executor = ResilientExecutor(
        AgnoExecutor(registry, model_factory=fakes.factory),
        resolver,
        retry=RetryPolicy(max_attempts=3, initial_delay=0.5, max_delay=10.0),
        breakers=CircuitBreakers(BreakerPolicy(failure_threshold=3, cooldown_seconds=30)),
        recorder=h.records.append,
        sleep=sleep,
    )
    yield h
    await async_engine.dispose()
    engine.dispose()
