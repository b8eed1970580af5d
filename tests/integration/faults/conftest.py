"""The `rig` fixture of the fault-injection tests (see `rig.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from focal.execution import (
    AgnoExecutor,
    BreakerPolicy,
    BudgetManager,
    CircuitBreakers,
    ResilientExecutor,
    RetryPolicy,
)
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository
from focal.storage import make_async_engine, make_sync_engine, upgrade
from tests.fakes.provider_server import FakeProviderServer
from tests.integration.faults.rig import (
    Clock,
    Rig,
)


@pytest.fixture
async def rig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: ModelRegistry, catalogs: AgentCatalogs
) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    engine = make_sync_engine(url)
    upgrade(engine)
    async_engine = make_async_engine(url)
    async with FakeProviderServer() as server:
        for name, value in server.focal_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        resolver = ModelResolver(
            registry, catalogs, OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
        )
        clock = Clock()
        rig = Rig(server=server, executor=None, clock=clock)  # type: ignore[arg-type]

        async def sleep(seconds: float) -> None:
            rig.sleeps.append(seconds)

        caller = AgnoExecutor(registry)  # the real provider models

        def build(budgets: BudgetManager | None = None) -> ResilientExecutor:
            return ResilientExecutor(
                caller,
                resolver,
                retry=RetryPolicy(max_attempts=2, initial_delay=0.2, max_delay=5.0),
                breakers=CircuitBreakers(BreakerPolicy(failure_threshold=3, cooldown_seconds=30), clock=clock),
                budgets=budgets,
                recorder=rig.records.append,
                stall_timeout_seconds=0.5,
                sleep=sleep,
            )

        rig.executor, rig.build, rig.async_engine = build(), build, async_engine
        yield rig
        # close the SDKs' keep-alive clients while the loop runs (not in the garbage collector)
        await rig.executor.caller.aclose()
    await async_engine.dispose()
    engine.dispose()
