"""`ModelResolver` caching: one read per tenant, invalidation at once in-process, TTL across processes, tenancy."""

from __future__ import annotations

import pytest

from focal.routing import (
    AgentCatalogs,
    ModelRegistry,
    ModelResolver,
    OverrideRepository,
    PipelineStep,
    ResolutionSource,
)
from focal.storage import make_sync_engine
from tests.unit.routing.resolver_env import Env, FakeClock

# --- caching -----------------------------------------------------------------------------------


def test_second_resolve_is_the_identical_object_without_a_read(env: Env) -> None:
    first = env.resolver.resolve("acme", "support", "generation")
    assert env.resolver.resolve("acme", "support", "generation") is first
    assert env.resolver.resolve("acme", "support", "enforcement") is not first
    assert env.reads == ["acme"]  # one read per tenant, not per step


@pytest.mark.parametrize(
    ("first", "second"),
    [(PipelineStep.GENERATION, "generation"), ("generation", PipelineStep.GENERATION)],
)
def test_enum_and_string_steps_share_the_cache(env: Env, first: object, second: object) -> None:
    a = env.resolver.resolve("acme", "research", first)  # type: ignore[arg-type]
    b = env.resolver.resolve("acme", "research", second)  # type: ignore[arg-type]
    assert a is b and a.model.ref == "openai/o1"
    assert a.step is PipelineStep.GENERATION
    assert env.reads == ["acme"]


def test_changes_through_the_repository_invalidate_at_once(env: Env) -> None:
    r = env.resolver
    first = r.resolve("acme", "support", "generation")
    env.repo.set("acme", "support", "generation", "openai:capable")  # no clock movement at all
    second = r.resolve("acme", "support", "generation")
    assert second is not first and second.model.ref == "openai/gpt-4o"
    env.repo.remove("acme", "support", "generation")
    assert r.resolve("acme", "support", "generation").model.ref == "anthropic/claude-sonnet-5"
    assert env.repo.remove("acme", "support", "generation") is False  # nothing removed: nothing invalidated
    assert env.reads == ["acme", "acme", "acme"]


async def test_async_changes_invalidate_at_once(env: Env) -> None:
    r = env.resolver
    assert (await r.aresolve("acme", "support", "generation")).source is ResolutionSource.AGENT_CATALOG
    await env.repo.aset("acme", "support", "generation", "openai:capable")
    assert (await r.aresolve("acme", "support", "generation")).model.ref == "openai/gpt-4o"
    await env.repo.aremove("acme", "support", "generation")
    assert (await r.aresolve("acme", "support", "generation")).model.ref == "anthropic/claude-sonnet-5"


def test_invalidation_is_per_tenant(env: Env) -> None:
    acme = env.resolver.resolve("acme", "support", "generation")
    globex = env.resolver.resolve("globex", "support", "generation")
    env.repo.set("acme", "support", "generation", "openai:capable")
    assert env.resolver.resolve("globex", "support", "generation") is globex  # untouched
    assert env.resolver.resolve("acme", "support", "generation") is not acme
    env.resolver.invalidate("globex")
    assert env.resolver.resolve("globex", "support", "generation") is not globex
    env.resolver.invalidate()
    env.resolver.resolve("acme", "support", "generation")
    env.resolver.resolve("globex", "support", "generation")
    assert env.reads == ["acme", "globex", "acme", "globex", "acme", "globex"]


def test_another_process_is_seen_only_after_the_ttl(env: Env, registry: ModelRegistry, catalogs: AgentCatalogs) -> None:
    # a second repository + resolver on the same database file: another process
    other_engine = make_sync_engine(env.url)
    other_repo = OverrideRepository(registry, catalogs, engine=other_engine)
    other_clock = FakeClock()
    other = ModelResolver(registry, catalogs, other_repo, ttl_seconds=5.0, clock=other_clock)
    try:
        assert env.resolver.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG
        assert other.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG

        other_repo.set("acme", "support", "generation", "openai:capable")
        assert other.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"  # its own: at once

        env.clock.now = 1004.999  # stored at 1000.0 with a 5 s TTL
        assert env.resolver.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG
        env.clock.now = 1005.0  # exactly the TTL: expired
        assert env.resolver.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"

        env.repo.remove("acme", "support", "generation")  # and the other way round
        assert other.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"
        other_clock.now = 1005.0
        assert other.resolve("acme", "support", "generation").model.ref == "anthropic/claude-sonnet-5"
    finally:
        other_engine.dispose()


def test_the_ttl_counts_from_when_the_read_began(env: Env) -> None:
    read = env.repo.for_tenant

    def slow_read(tenant_id: str):  # type: ignore[no-untyped-def]
        rows = read(tenant_id)
        env.clock.now += 3.0  # the read took 3 s: its rows are 3 s old when they arrive
        return rows

    env.repo.for_tenant = slow_read  # type: ignore[method-assign]
    env.resolver.resolve("acme", "support", "generation")  # read began at 1000.0
    env.clock.now = 1004.999
    env.resolver.resolve("acme", "support", "generation")
    assert env.reads == ["acme"]
    env.clock.now = 1005.0  # 5 s after the read began, though only 2 s after it ended
    env.resolver.resolve("acme", "support", "generation")
    assert env.reads == ["acme", "acme"]


def test_ttl_zero_reads_every_time(env: Env, registry: ModelRegistry, catalogs: AgentCatalogs) -> None:
    resolver = ModelResolver(registry, catalogs, env.repo, ttl_seconds=0, clock=env.clock)
    a = resolver.resolve("acme", "support", "generation")
    b = resolver.resolve("acme", "support", "generation")
    assert a is not b and a == b
    assert env.reads == ["acme", "acme"]


def test_the_oldest_tenant_is_evicted_beyond_max_tenants(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    resolver = ModelResolver(registry, catalogs, env.repo, max_tenants=2, clock=env.clock)
    t1 = resolver.resolve("t1", "support", "generation")
    t2 = resolver.resolve("t2", "support", "generation")
    resolver.resolve("t3", "support", "generation")
    assert resolver.resolve("t2", "support", "generation") is t2
    assert resolver.resolve("t1", "support", "generation") is not t1
    assert env.reads == ["t1", "t2", "t3", "t1"]


async def test_aresolve_and_resolve_share_one_cache(env: Env) -> None:
    a = await env.resolver.aresolve("acme", "support", PipelineStep.ENFORCEMENT)
    assert a.model.ref == "openai/gpt-4o"
    assert env.resolver.resolve("acme", "support", "enforcement") is a
    assert await env.resolver.aresolve("acme", "support", "enforcement") is a
    assert env.reads == ["acme"]


async def test_resolve_all_in_pipeline_order(env: Env) -> None:
    sync_all = env.resolver.resolve_all("acme", "support")
    assert [r.step for r in sync_all] == list(PipelineStep)
    assert [r.model.ref for r in sync_all] == [
        "anthropic/claude-haiku-4-5",
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-sonnet-5",
        "openai/gpt-4o",
    ]
    async_all = await env.resolver.aresolve_all("acme", "support")
    assert all(a is b for a, b in zip(sync_all, async_all, strict=True))


# --- tenancy -----------------------------------------------------------------------------------


def test_tenants_do_not_see_each_other(env: Env) -> None:
    env.repo.set("t1", "support", "*", "openai:cheap", fallback_chain=[])
    env.repo.set("t1", "research", "generation", "ollama:premium")
    for step in PipelineStep:
        assert env.resolver.resolve("t1", "support", step).model.ref == "openai/gpt-4o-mini"
    t2 = env.resolver.resolve_all("t2", "support")
    assert all(r.source is not ResolutionSource.TENANT_OVERRIDE for r in t2)
    assert all(r.tenant_id == "t2" for r in t2)
    assert env.resolver.resolve("t2", "research", "generation").model.ref == "openai/o1"
    assert env.resolver.resolve("t1", "research", "generation").model.ref == "ollama/llama3.1:70b"
