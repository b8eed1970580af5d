"""`ModelResolver` on a real (SQLite file) database: precedence, reasons, fallback chains, caching."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from focal import ConfigError, NotFoundError, StorageError
from focal.routing import (
    AgentCatalogs,
    ModelRegistry,
    ModelResolver,
    OverrideRepository,
    PipelineStep,
    Resolution,
    ResolutionSource,
    TaskType,
    TenantOverride,
    Tier,
    default_fallback_chain,
    load_routing_config,
)
from focal.storage import TenantModelOverride, make_async_engine, make_sync_engine, upgrade, utcnow

T0 = dt.datetime(2026, 11, 20, 9, 30, 0, tzinfo=dt.UTC)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    url: str
    engine: Engine
    repo: OverrideRepository
    resolver: ModelResolver
    clock: FakeClock
    reads: list[str]
    """Tenants whose overrides were read from the database (sync or async), in order."""


def _count_reads(repo: OverrideRepository, reads: list[str]) -> None:
    sync_read, async_read = repo.for_tenant, repo.afor_tenant

    def for_tenant(tenant_id: str):  # type: ignore[no-untyped-def]
        reads.append(tenant_id)
        return sync_read(tenant_id)

    async def afor_tenant(tenant_id: str):  # type: ignore[no-untyped-def]
        reads.append(tenant_id)
        return await async_read(tenant_id)

    repo.for_tenant = for_tenant  # type: ignore[method-assign]
    repo.afor_tenant = afor_tenant  # type: ignore[method-assign]


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
    _count_reads(repo, reads)
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


def _refs(resolution: Resolution) -> list[str]:
    return [m.ref for m in resolution.fallback_chain]


# --- the default chain -------------------------------------------------------------------------


def test_default_fallback_chain(registry: ModelRegistry) -> None:
    # same tier on every other real provider in file order (local has no models, hybrid is skipped),
    # then the next tier down on the model's own provider
    sonnet = registry.get("anthropic", "capable")
    assert [m.ref for m in default_fallback_chain(registry, sonnet)] == [
        "openai/gpt-4o",
        "ollama/llama3.1:8b",
        "anthropic/claude-haiku-4-5",
    ]
    assert [m.ref for m in default_fallback_chain(registry, registry.get("openai", "premium"))] == [
        "anthropic/claude-opus-4-8",
        "ollama/llama3.1:70b",
        "openai/gpt-4o",
    ]
    # nothing below cheap
    assert [m.ref for m in default_fallback_chain(registry, registry.get("ollama", "cheap"))] == [
        "anthropic/claude-haiku-4-5",
        "openai/gpt-4o-mini",
    ]
    # a non-default model of a tier: the other providers' tier defaults, then its own provider's lower tier
    assert [m.ref for m in default_fallback_chain(registry, registry.by_id("gpt-4.1"))] == [
        "anthropic/claude-sonnet-5",
        "ollama/llama3.1:8b",
        "openai/gpt-4o-mini",
    ]


# --- precedence ---------------------------------------------------------------------------------


def test_task_default(env: Env, catalogs: AgentCatalogs) -> None:
    res = env.resolver.resolve("acme", "support", "scenario_filtering")
    source = catalogs.get("support").source
    assert (res.tenant_id, res.agent_id, res.step, res.task_type) == (
        "acme",
        "support",
        PipelineStep.SCENARIO_FILTERING,
        TaskType.SCENARIO_NAVIGATION,
    )
    assert (res.model.ref, res.source) == ("anthropic/claude-haiku-4-5", ResolutionSource.TASK_DEFAULT)
    assert res.reason == (
        "task default: step 'scenario_filtering' does task 'scenario_navigation' -> tier cheap, "
        f"on default_provider 'anthropic' of {source} => anthropic/claude-haiku-4-5"
    )
    assert res.fallback_source == "default"
    assert _refs(res) == ["openai/gpt-4o-mini", "ollama/llama3.2:3b"]  # nothing below cheap
    assert res.temperature == 0.0 and res.max_tokens is None and res.timeout_seconds is None


@pytest.mark.parametrize(
    ("agent", "step", "model", "source", "decided", "fallbacks", "fallback_source"),
    [
        (
            "support",
            "context_extraction",
            "anthropic/claude-haiku-4-5",
            "agent_catalog",
            "tier: cheap (provider from default_provider anthropic) => anthropic/claude-haiku-4-5",
            ["openai/gpt-4o-mini", "ollama/llama3.2:3b"],
            "default",
        ),
        (
            "support",
            "rule_filtering",
            "openai/gpt-4o-mini",
            "agent_catalog",
            "model: openai:cheap => openai/gpt-4o-mini",
            ["anthropic/claude-haiku-4-5"],
            "agent_catalog",
        ),
        (
            "support",
            "generation",
            "anthropic/claude-sonnet-5",
            "agent_catalog",
            "model: anthropic/claude-sonnet-5",
            ["openai/gpt-4o", "anthropic/claude-haiku-4-5"],
            "agent_catalog",
        ),
        (
            "support",
            "enforcement",
            "openai/gpt-4o",
            "agent_catalog",
            "provider: openai, tier: capable => openai/gpt-4o",
            ["anthropic/claude-sonnet-5"],
            "agent_catalog",
        ),
        (
            "research",
            "context_extraction",
            "openai/gpt-4o-mini",
            "agent_catalog",
            "model: hybrid:cheap => openai/gpt-4o-mini",
            ["anthropic/claude-haiku-4-5", "ollama/llama3.2:3b"],
            "default",
        ),
        ("research", "rule_filtering", "openai/gpt-4o-mini", "task_default", None, None, "default"),
        (
            "research",
            "scenario_filtering",
            "anthropic/claude-haiku-4-5",
            "agent_catalog",
            "provider: anthropic (tier cheap from task type scenario_navigation) => anthropic/claude-haiku-4-5",
            ["openai/gpt-4o-mini", "ollama/llama3.2:3b"],
            "default",
        ),
        (
            "research",
            "generation",
            "openai/o1",
            "agent_catalog",
            "tier: premium (provider from default_provider openai) => openai/o1",
            ["anthropic/claude-opus-4-8", "openai/gpt-4o"],
            "agent_catalog",
        ),
        (
            "research",
            "enforcement",
            "anthropic/claude-sonnet-5",
            "agent_catalog",
            "model: anthropic:capable => anthropic/claude-sonnet-5",
            [],  # `fallbacks: []` means none, not the default chain
            "agent_catalog",
        ),
    ],
)
def test_catalog_and_task_defaults_for_every_step(
    env: Env,
    catalogs: AgentCatalogs,
    agent: str,
    step: str,
    model: str,
    source: str,
    decided: str | None,
    fallbacks: list[str] | None,
    fallback_source: str,
) -> None:
    res = env.resolver.resolve("acme", agent, step)
    assert (res.model.ref, res.source.value, res.fallback_source) == (model, source, fallback_source)
    if decided is not None:
        assert res.reason == f"agent catalog {catalogs.get(agent).source}: steps.{step} {decided}"
    if fallbacks is not None:
        assert _refs(res) == fallbacks


def test_catalog_call_parameters_are_carried(env: Env) -> None:
    res = env.resolver.resolve("acme", "research", "generation")
    assert (res.temperature, res.max_tokens, res.timeout_seconds) == (0.2, 2000, 90)
    assert res.task_type is TaskType.COMPLEX_REASONING


def test_tenant_overrides_beat_the_catalog_and_the_step_beats_star(
    env: Env, catalogs: AgentCatalogs, fixed_now: Callable[[dt.datetime], None]
) -> None:
    r, repo = env.resolver, env.repo
    assert r.resolve("acme", "support", "generation").source is ResolutionSource.AGENT_CATALOG

    repo.set("acme", "support", "*", "openai:cheap", changed_by="ops")
    res = r.resolve("acme", "support", "generation")
    assert (res.model.ref, res.source) == ("openai/gpt-4o-mini", ResolutionSource.TENANT_OVERRIDE)
    assert res.reason == (
        "tenant override: tenant_model_overrides row tenant='acme' agent='support' step='*' (all steps) "
        "-> openai:cheap, changed by ops at 2026-11-20T09:30:00+00:00 => openai/gpt-4o-mini"
    )
    # '*' covers every step, including one the catalog leaves to the task default
    assert r.resolve("acme", "support", "scenario_filtering").model.ref == "openai/gpt-4o-mini"
    # call parameters still come from the catalog
    assert (res.temperature, res.max_tokens, res.timeout_seconds) == (0.4, 800, 45)

    fixed_now(T0 + dt.timedelta(minutes=5))
    repo.set("acme", "support", "generation", "anthropic:premium", changed_by="alice")
    res = r.resolve("acme", "support", "generation")
    assert (res.model.ref, res.source) == ("anthropic/claude-opus-4-8", ResolutionSource.TENANT_OVERRIDE)
    assert res.reason == (
        "tenant override: tenant_model_overrides row tenant='acme' agent='support' step='generation' "
        "-> anthropic:premium, changed by alice at 2026-11-20T09:35:00+00:00 => anthropic/claude-opus-4-8"
    )
    assert r.resolve("acme", "support", "enforcement").model.ref == "openai/gpt-4o-mini"  # still '*'

    repo.remove("acme", "support", "generation")
    assert r.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o-mini"  # back to '*'
    repo.remove("acme", "support", "*")
    res = r.resolve("acme", "support", "generation")
    assert (res.model.ref, res.source) == ("anthropic/claude-sonnet-5", ResolutionSource.AGENT_CATALOG)
    assert str(catalogs.get("support").source) in res.reason


def test_an_override_for_one_agent_leaves_the_other_alone(env: Env) -> None:
    env.repo.set("acme", "support", "*", "ollama:capable")
    assert env.resolver.resolve("acme", "support", "generation").model.ref == "ollama/llama3.1:8b"
    assert env.resolver.resolve("acme", "research", "generation").model.ref == "openai/o1"


# --- fallback chains under overrides -----------------------------------------------------------


def test_override_fallback_chain_none_keeps_the_catalog_chain(env: Env) -> None:
    env.repo.set("acme", "support", "generation", "openai:capable")  # fallback_chain=None
    res = env.resolver.resolve("acme", "support", "generation")
    assert res.model.ref == "openai/gpt-4o"
    assert res.fallback_source == "agent_catalog"
    assert _refs(res) == ["anthropic/claude-haiku-4-5"]  # the catalog's chain minus the new primary


def test_override_fallback_chain_none_on_a_step_without_catalog_chain_uses_the_default(env: Env) -> None:
    env.repo.set("acme", "support", "scenario_filtering", "openai:capable")
    res = env.resolver.resolve("acme", "support", "scenario_filtering")
    assert res.fallback_source == "default"
    assert _refs(res) == ["anthropic/claude-sonnet-5", "ollama/llama3.1:8b", "openai/gpt-4o-mini"]


def test_override_empty_fallback_chain_means_none(env: Env) -> None:
    env.repo.set("acme", "support", "generation", "openai:capable", fallback_chain=[])
    res = env.resolver.resolve("acme", "support", "generation")
    assert (res.fallback_chain, res.fallback_source) == ([], "tenant_override")


def test_override_explicit_fallback_chain(env: Env) -> None:
    env.repo.set("acme", "support", "*", "openai:capable", fallback_chain=["ollama/llama3.1:8b", "hybrid:premium"])
    for step in PipelineStep:
        res = env.resolver.resolve("acme", "support", step)
        assert res.fallback_source == "tenant_override"
        assert _refs(res) == ["ollama/llama3.1:8b", "anthropic/claude-opus-4-8"]


def test_research_star_override_keeps_explicitly_empty_catalog_chain(env: Env) -> None:
    env.repo.set("acme", "research", "*", "ollama:cheap")
    res = env.resolver.resolve("acme", "research", "enforcement")
    assert (res.model.ref, res.fallback_chain, res.fallback_source) == ("ollama/llama3.2:3b", [], "agent_catalog")


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


# --- errors ------------------------------------------------------------------------------------


def test_unknown_agent_step_and_bad_tenant(env: Env) -> None:
    with pytest.raises(NotFoundError, match=r"unknown agent 'ghost' \(agents: research, support\)"):
        env.resolver.resolve("acme", "ghost", "generation")
    assert env.reads == []  # refused before touching the database
    with pytest.raises(NotFoundError, match="unknown step 'greeting'"):
        env.resolver.resolve("acme", "support", "greeting")
    with pytest.raises(NotFoundError, match="unknown step 'greeting'"):
        env.resolver.resolve("acme", "support", "greeting")  # also once the tenant is cached
    with pytest.raises(NotFoundError, match="unknown agent 'ghost'"):
        env.resolver.resolve("acme", "ghost", "generation")  # also once the tenant is cached
    for bad in ("", "bad tenant", "x" * 129, "-leading-dash", "tenant/slash"):
        with pytest.raises(ConfigError, match="invalid tenant id") as info:
            env.resolver.resolve(bad, "support", "generation")
        assert info.value.key == "tenant_id"
    assert env.resolver.resolve("a" * 128, "support", "generation").tenant_id == "a" * 128
    assert env.resolver.resolve("org:acme@eu-1.prod", "support", "generation").source is ResolutionSource.AGENT_CATALOG


async def test_async_errors(env: Env) -> None:
    with pytest.raises(NotFoundError, match="unknown agent 'ghost'"):
        await env.resolver.aresolve("acme", "ghost", "generation")
    with pytest.raises(ConfigError, match="invalid tenant id"):
        await env.resolver.aresolve("bad tenant", "support", "generation")
    with pytest.raises(NotFoundError, match="unknown step 'greeting'"):
        await env.resolver.aresolve("acme", "support", "greeting")
    assert env.reads == ["acme"]


def _insert_row(engine: Engine, **values: object) -> None:
    now = utcnow()
    row = {"tenant_id": "acme", "agent_id": "support", "step": "generation", "changed_by": "legacy"}
    row |= {"created_at": now, "updated_at": now, **values}
    with engine.begin() as conn:
        conn.execute(insert(TenantModelOverride), [row])


def test_a_row_whose_model_is_gone_names_the_row(env: Env) -> None:
    _insert_row(env.engine, model_ref="openai/gpt-3.5-turbo")
    with pytest.raises(ConfigError) as info:
        env.resolver.resolve("acme", "support", "generation")
    assert info.value.key == "model_ref"
    assert str(info.value) == (
        "model_ref: tenant_model_overrides row tenant='acme' agent='support' step='generation': "
        "model_ref no longer resolves (unknown model 'openai/gpt-3.5-turbo'); "
        "fix it with `focal overrides set` or `focal overrides remove`"
    )
    # the broken row only breaks that step
    assert env.resolver.resolve("acme", "support", "enforcement").source is ResolutionSource.AGENT_CATALOG


def test_a_row_whose_fallback_is_gone_names_the_row(env: Env) -> None:
    _insert_row(env.engine, step="*", model_ref="openai:cheap", fallback_chain=["anthropic:cheap", "azure:cheap"])
    with pytest.raises(ConfigError) as info:
        env.resolver.resolve("acme", "support", "rule_filtering")
    assert info.value.key == "fallback_chain"
    assert "tenant_model_overrides row tenant='acme' agent='support' step='*'" in str(info.value)
    assert "fallback_chain no longer resolves (unknown provider 'azure'" in str(info.value)


def test_a_model_removed_from_models_yaml_after_the_override_was_written(
    env: Env, tmp_path: Path, config_dir: Path
) -> None:
    env.repo.set("acme", "support", "generation", "openai/gpt-4.1", changed_by="alice")
    configs = tmp_path / "configs"
    shutil.copytree(config_dir, configs)
    text = (configs / "models.yaml").read_text()
    start = text.index("      - id: gpt-4.1\n")
    end = text.index("      - id: o1\n")
    (configs / "models.yaml").write_text(text[:start] + text[end:])
    registry, catalogs = load_routing_config(configs)  # the next deploy's configuration
    engine = make_sync_engine(env.url)
    try:
        resolver = ModelResolver(registry, catalogs, OverrideRepository(registry, catalogs, engine=engine))
        with pytest.raises(
            ConfigError, match=r"row tenant='acme' agent='support' step='generation': model_ref no longer"
        ):
            resolver.resolve("acme", "support", "generation")
    finally:
        engine.dispose()


def test_missing_schema_is_a_storage_error(tmp_path: Path, registry: ModelRegistry, catalogs: AgentCatalogs) -> None:
    engine = make_sync_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        resolver = ModelResolver(registry, catalogs, OverrideRepository(registry, catalogs, engine=engine))
        with pytest.raises(StorageError, match=r"tenant_model_overrides is missing \(no such table.*focal db upgrade"):
            resolver.resolve("acme", "support", "generation")
    finally:
        engine.dispose()


def test_default_task_tier_is_exposed(env: Env, registry: ModelRegistry, catalogs: AgentCatalogs) -> None:
    assert env.resolver.default_task_tier is None
    assert ModelResolver(registry, catalogs, env.repo, default_task_tier=Tier.CHEAP).default_task_tier is Tier.CHEAP


# --- fallback chains given as iterators: read once, kept whole ----------------------------------


class _FixedRows:
    """An override source that hands out the same `TenantOverride` objects on every read."""

    def __init__(self, rows: list[TenantOverride]) -> None:
        self.rows = rows

    def add_listener(self, listener: object) -> None:
        pass

    def for_tenant(self, tenant_id: str) -> list[TenantOverride]:
        return list(self.rows)


def test_override_fallback_chain_given_as_a_generator_is_stored_whole(env: Env) -> None:
    refs = ["ollama/llama3.1:8b", "hybrid:premium"]
    row = env.repo.set("acme", "support", "generation", "openai:capable", fallback_chain=(r for r in refs))
    assert row.fallback_chain == tuple(refs)
    first = env.resolver.resolve("acme", "support", "generation")
    env.resolver.invalidate("acme")
    second = env.resolver.resolve("acme", "support", "generation")
    assert first is not second
    assert _refs(first) == _refs(second) == ["ollama/llama3.1:8b", "anthropic/claude-opus-4-8"]
    assert second.fallback_source == "tenant_override"


async def test_async_override_fallback_chain_given_as_an_iterator_is_stored_whole(env: Env) -> None:
    row = await env.repo.aset("acme", "support", "*", "openai:capable", fallback_chain=iter(["ollama:cheap"]))
    assert row.fallback_chain == ("ollama:cheap",)
    assert _refs(await env.resolver.aresolve("acme", "support", "generation")) == ["ollama/llama3.2:3b"]


def test_a_generator_chain_on_an_override_row_survives_a_second_resolution(
    registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    row = TenantOverride(
        tenant_id="acme",
        agent_id="support",
        step="generation",
        model_ref="openai:capable",
        fallback_chain=(r for r in ["ollama:capable", "anthropic:cheap"]),  # type: ignore[arg-type]
        created_at=T0,
        updated_at=T0,
        changed_by="test",
    )
    assert row.fallback_chain == ("ollama:capable", "anthropic:cheap")
    resolver = ModelResolver(registry, catalogs, _FixedRows([row]), ttl_seconds=0)  # type: ignore[arg-type]
    first = resolver.resolve("acme", "support", "generation")
    second = resolver.resolve("acme", "support", "generation")  # a fresh computation from the same row
    assert first is not second
    assert _refs(first) == _refs(second) == ["ollama/llama3.1:8b", "anthropic/claude-haiku-4-5"]


def test_a_generator_chain_in_a_catalog_survives_a_second_resolution(
    registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    support = catalogs.get("support")
    generation = support.step("generation")
    chain = [registry.get("ollama", "capable"), registry.get("openai", "cheap")]
    steps = dict(support.steps)
    steps[PipelineStep.GENERATION] = dataclasses.replace(generation, fallbacks=iter(chain))  # type: ignore[arg-type]
    patched = AgentCatalogs({"support": dataclasses.replace(support, steps=steps)})
    resolver = ModelResolver(registry, patched, _FixedRows([]), ttl_seconds=0)  # type: ignore[arg-type]
    first = resolver.resolve("acme", "support", "generation")
    second = resolver.resolve("acme", "support", "generation")
    assert first is not second
    assert _refs(first) == _refs(second) == ["ollama/llama3.1:8b", "openai/gpt-4o-mini"]
    assert second.fallback_source == "agent_catalog"


def test_a_resolution_built_with_an_iterator_chain_can_be_read_again(registry: ModelRegistry) -> None:
    model = registry.get("openai", "capable")
    chain = [registry.get("anthropic", "capable"), registry.get("openai", "cheap")]
    res = Resolution(
        tenant_id="acme",
        agent_id="support",
        step=PipelineStep.GENERATION,
        task_type=TaskType.RESPONSE_GENERATION,
        model=model,
        fallback_chain=iter(chain),  # type: ignore[arg-type]
        source=ResolutionSource.TENANT_OVERRIDE,
        reason="test",
        fallback_source="tenant_override",
    )
    assert res.fallback_chain == chain and res.fallback_chain == chain
