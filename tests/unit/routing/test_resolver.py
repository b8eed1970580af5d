"""`ModelResolver` on a real (SQLite file) database: precedence, reasons, fallback chains, caching."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Callable
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
from focal.storage import TenantModelOverride, make_sync_engine, utcnow
from tests.unit.routing.resolver_env import T0, Env


def _refs(resolution: Resolution) -> list[str]:
    return [m.ref for m in resolution.fallback_chain]


# --- the default chain -------------------------------------------------------------------------


def test_default_fallback_chain(registry: ModelRegistry) -> None:
    # same tier on every other real provider in file order (the embedded local model and hybrid are skipped),
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
