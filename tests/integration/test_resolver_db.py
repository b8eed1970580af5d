"""`ModelResolver` over a real database (SQLite and PostgreSQL): precedence, tenancy, processes, TTL."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from focal import ConfigError, StorageError
from focal.routing import (
    AgentCatalogs,
    ModelRegistry,
    ModelResolver,
    OverrideRepository,
    PipelineStep,
    ResolutionSource,
    TenantOverride,
)
from focal.storage import TenantModelOverride, make_async_engine, make_sync_engine, upgrade


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Process:
    """One process's view of the database: engines, repository, resolver, clock."""

    engine: Engine
    async_engine: AsyncEngine
    repo: OverrideRepository
    resolver: ModelResolver
    clock: FakeClock


def _process(url: str, registry: ModelRegistry, catalogs: AgentCatalogs) -> Process:
    engine = make_sync_engine(url)
    async_engine = make_async_engine(url)
    repo = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    clock = FakeClock()
    return Process(
        engine, async_engine, repo, ModelResolver(registry, catalogs, repo, ttl_seconds=5, clock=clock), clock
    )


@pytest.fixture
async def two(
    database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs
) -> AsyncIterator[tuple[Process, Process]]:
    upgrade(database_url)
    a, b = _process(database_url, registry, catalogs), _process(database_url, registry, catalogs)
    yield a, b
    for p in (a, b):
        await p.async_engine.dispose()
        p.engine.dispose()


async def test_precedence_on_the_database(two: tuple[Process, Process]) -> None:
    p, _ = two
    r = p.resolver
    res = r.resolve("acme", "support", "scenario_filtering")
    assert (res.model.ref, res.source, res.fallback_source) == (
        "anthropic/claude-haiku-4-5",
        ResolutionSource.TASK_DEFAULT,
        "default",
    )
    assert r.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG
    await p.repo.aset("acme", "support", "*", "openai:cheap", changed_by="ops")
    res = await r.aresolve("acme", "support", "generation")
    assert (res.model.ref, res.source, res.fallback_source) == (
        "openai/gpt-4o-mini",
        ResolutionSource.TENANT_OVERRIDE,
        "agent_catalog",
    )
    assert "tenant_model_overrides row tenant='acme' agent='support' step='*' (all steps)" in res.reason
    assert [m.ref for m in res.fallback_chain] == ["openai/gpt-4o", "anthropic/claude-haiku-4-5"]
    p.repo.set("acme", "support", "generation", "anthropic:premium", fallback_chain=[], changed_by="alice")
    res = r.resolve("acme", "support", PipelineStep.GENERATION)
    assert (res.model.ref, res.fallback_chain, res.fallback_source) == (
        "anthropic/claude-opus-4-8",
        [],
        "tenant_override",
    )
    assert "step='generation'" in res.reason and "changed by alice" in res.reason
    assert r.resolve("acme", "support", "enforcement").model.ref == "openai/gpt-4o-mini"


async def test_tenants_do_not_see_each_other(two: tuple[Process, Process]) -> None:
    p, _ = two
    p.repo.set("t1", "support", "*", "ollama:cheap")
    t2_before = p.resolver.resolve("t2", "support", "generation")
    assert p.resolver.resolve("t1", "support", "generation").model.ref == "ollama/llama3.2:3b"
    assert t2_before.source is ResolutionSource.AGENT_CATALOG
    p.resolver.invalidate()
    assert all(r.source is not ResolutionSource.TENANT_OVERRIDE for r in await p.resolver.aresolve_all("t2", "support"))
    assert p.repo.list("t2") == []


async def test_another_process_sees_a_change_only_after_its_ttl(two: tuple[Process, Process]) -> None:
    a, b = two
    assert a.resolver.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG
    assert (await b.resolver.aresolve("acme", "support", "generation")).source is ResolutionSource.AGENT_CATALOG

    await b.repo.aset("acme", "support", "generation", "openai:capable")
    assert b.resolver.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"  # its own change: at once
    a.clock.now = 4.9
    assert a.resolver.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG  # stale
    assert (await a.resolver.aresolve("acme", "support", "generation")).source is ResolutionSource.AGENT_CATALOG
    a.clock.now = 5.0
    assert (await a.resolver.aresolve("acme", "support", "generation")).model.ref == "openai/gpt-4o"

    a.repo.remove("acme", "support", "generation")
    assert a.resolver.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG
    assert b.resolver.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"  # b's cache still warm
    b.clock.now = 5.0
    assert b.resolver.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG


async def test_a_change_during_an_async_cache_miss_read_is_seen_at_once(two: tuple[Process, Process]) -> None:
    # the read's SELECT has run; its rows come back only after `aset` committed and invalidated "acme"
    p, _ = two
    taken, release = asyncio.Event(), asyncio.Event()
    read = p.repo.afor_tenant

    async def held_read(tenant_id: str) -> list[TenantOverride]:
        rows = await read(tenant_id)
        if not release.is_set():
            taken.set()
            await release.wait()
        return rows

    p.repo.afor_tenant = held_read  # type: ignore[method-assign]
    reader = asyncio.create_task(p.resolver.aresolve("acme", "support", "generation"))
    await taken.wait()
    await p.repo.aset("acme", "support", "generation", "openai:cheap", changed_by="ops")
    release.set()
    assert (await reader).model.ref == "anthropic/claude-sonnet-5"  # began before the change
    # not the stale rows cached for the TTL: the clock has not moved
    assert (await p.resolver.aresolve("acme", "support", "generation")).model.ref == "openai/gpt-4o-mini"
    assert p.resolver.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o-mini"


def test_a_change_during_a_sync_cache_miss_read_in_another_thread_is_seen_at_once(
    two: tuple[Process, Process],
) -> None:
    p, _ = two
    taken, release = threading.Event(), threading.Event()
    read = p.repo.for_tenant

    def held_read(tenant_id: str) -> list[TenantOverride]:
        rows = read(tenant_id)
        if not release.is_set():
            taken.set()
            assert release.wait(10)
        return rows

    p.repo.for_tenant = held_read  # type: ignore[method-assign]
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(p.resolver.resolve("acme", "support", "generation").model.ref))
    reader.start()
    assert taken.wait(10)
    p.repo.set("acme", "support", "generation", "openai:capable", changed_by="ops")
    release.set()
    reader.join(10)
    assert got == ["anthropic/claude-sonnet-5"]
    assert p.resolver.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"


async def test_async_only_repository_serves_aresolve(
    database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    upgrade(database_url)
    async_engine = make_async_engine(database_url)
    try:
        repo = OverrideRepository(registry, catalogs, async_engine=async_engine)
        resolver = ModelResolver(registry, catalogs, repo)
        await repo.aset("acme", "research", "generation", "ollama:premium")
        res = await resolver.aresolve("acme", "research", "generation")
        assert res.model.ref == "ollama/llama3.1:70b"
        assert resolver.resolve("acme", "research", "generation") is res  # a cache hit needs no engine
        with pytest.raises(RuntimeError, match="no sync engine"):
            resolver.resolve("globex", "research", "generation")  # a miss on the sync path does
    finally:
        await async_engine.dispose()


def test_a_row_that_no_longer_resolves_names_tenant_agent_and_step(two: tuple[Process, Process]) -> None:
    p, _ = two
    now = dt.datetime.now(dt.UTC)
    with p.engine.begin() as conn:
        conn.execute(
            insert(TenantModelOverride),
            [
                {
                    "tenant_id": "acme",
                    "agent_id": "research",
                    "step": "enforcement",
                    "model_ref": "openai/gpt-3.5-turbo",
                    "created_at": now,
                    "updated_at": now,
                    "changed_by": "legacy",
                }
            ],
        )
    with pytest.raises(ConfigError) as info:
        p.resolver.resolve("acme", "research", "enforcement")
    assert info.value.key == "model_ref"
    assert "tenant_model_overrides row tenant='acme' agent='research' step='enforcement'" in str(info.value)
    assert "no longer resolves (unknown model 'openai/gpt-3.5-turbo')" in str(info.value)


async def test_missing_schema(database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs) -> None:
    p = _process(database_url, registry, catalogs)
    try:
        with pytest.raises(StorageError, match="run `focal db upgrade`"):
            p.resolver.resolve("acme", "support", "generation")
        with pytest.raises(StorageError, match="run `focal db upgrade`"):
            await p.resolver.aresolve("acme", "support", "generation")
    finally:
        await p.async_engine.dispose()
        p.engine.dispose()
