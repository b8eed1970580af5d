"""Fixtures of the resolver tests: a migrated SQLite file, the resolver over it, a pinned clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from focal.routing import (
    AgentCatalogs,
    ModelRegistry,
    ModelResolver,
    OverrideRepository,
)
from focal.storage import make_async_engine, make_sync_engine, upgrade
from tests.unit.routing.resolver_env import T0, Env, FakeClock, count_reads


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'routing.db'}"
    upgrade(url)
    return url


@pytest.fixture
async def env(db_url: str, registry: ModelRegistry, catalogs: AgentCatalogs) -> AsyncIterator[Env]:
    engine = make_sync_engine(db_url)
    async_engine = make_async_engine(db_url)
    repo = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    reads: list[str] = []
    count_reads(repo, reads)
    clock = FakeClock()
    resolver = ModelResolver(registry, catalogs, repo, ttl_seconds=5.0, clock=clock)
    yield Env(db_url, engine, repo, resolver, clock, reads)
    await async_engine.dispose()
    engine.dispose()


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Pin the timestamp the repository writes."""

    def pin(when: dt.datetime) -> None:
        monkeypatch.setattr("focal.routing.overrides.utcnow", lambda: when)

    pin(T0)
    return pin
