"""Overrides repository, resolver precedence and caching, and migrations — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from focal import ConfigError, NotFoundError, OverrideExistsError, StorageError
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository, PipelineStep
from focal.storage import (
    TenantModelOverride,
    TenantModelOverrideChange,
    current_revision,
    head_revision,
    make_async_engine,
    make_sync_engine,
    require_schema,
    upgrade,
    utcnow,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Routing:
    url: str
    repo: OverrideRepository
    resolver: ModelResolver
    clock: Clock
    engine: object


@pytest.fixture
async def routing(database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs) -> AsyncIterator[Routing]:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    async_engine = make_async_engine(database_url)
    repo = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    clock = Clock()
    yield Routing(
        database_url, repo, ModelResolver(registry, catalogs, repo, ttl_seconds=5, clock=clock), clock, engine
    )
    await async_engine.dispose()
    engine.dispose()


# --- migrations --------------------------------------------------------------------------------


def test_upgrade_creates_schema_and_is_idempotent(database_url: str) -> None:
    with pytest.raises(StorageError, match="focal db upgrade"):
        require_schema(database_url)
    assert current_revision(database_url) is None
    assert upgrade(database_url) == (None, head_revision())
    assert upgrade(database_url) == (head_revision(), head_revision())
    require_schema(database_url)
    engine = make_sync_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {
        "tenant_model_overrides",
        "tenant_model_override_changes",
        "llm_calls",
        "workflow_runs",
        "telemetry_daily_aggregates",
        "tenant_budgets",
        "budget_usage",
    } <= tables


def test_upgrade_step_by_step(database_url: str) -> None:
    assert upgrade(database_url, "0001_routing") == (None, "0001_routing")
    assert upgrade(database_url) == ("0001_routing", head_revision())


def test_unreachable_database() -> None:
    with pytest.raises(StorageError, match="cannot reach the database"):
        upgrade("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")


def test_missing_schema_is_a_clear_error(database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs) -> None:
    engine = make_sync_engine(database_url)
    repo = OverrideRepository(registry, catalogs, engine=engine)
    with pytest.raises(StorageError, match="focal db upgrade"):
        repo.list()
    engine.dispose()


# --- repository --------------------------------------------------------------------------------


async def test_set_get_list_remove_sync_and_async(routing: Routing) -> None:
    repo = routing.repo
    first = repo.set(
        "acme", "support", "generation", "openai:capable", fallback_chain=["anthropic:capable"], changed_by="alice"
    )
    assert (first.model_ref, first.fallback_chain, first.changed_by) == (
        "openai:capable",
        ("anthropic:capable",),
        "alice",
    )
    assert first.created_at.tzinfo is not None and first.created_at == first.updated_at
    again = await repo.aset("acme", "support", "generation", "anthropic:premium", changed_by="bob")
    assert again.created_at == first.created_at and again.updated_at >= first.updated_at
    assert again.fallback_chain is None and again.changed_by == "bob"
    await repo.aset("acme", "support", "*", "openai:cheap", fallback_chain=[])
    await repo.aset("globex", "research", "enforcement", "openai:capable")
    assert [(o.tenant_id, o.step) for o in repo.list()] == [
        ("acme", "*"),
        ("acme", "generation"),
        ("globex", "enforcement"),
    ]
    assert [o.step for o in await repo.alist("acme")] == ["*", "generation"]
    assert repo.list(agent_id="research")[0].tenant_id == "globex"
    assert (await repo.aget("acme", "support", "*")).fallback_chain == ()  # type: ignore[union-attr]
    assert repo.get("acme", "research", "generation") is None
    assert await repo.aremove("acme", "support", "*", changed_by="carol") is True
    assert repo.remove("acme", "support", "*") is False
    engine = routing.engine
    with engine.connect() as conn:  # type: ignore[attr-defined]
        changes = conn.execute(
            select(
                TenantModelOverrideChange.action,
                TenantModelOverrideChange.previous_model_ref,
                TenantModelOverrideChange.changed_by,
            )
            .where(TenantModelOverrideChange.tenant_id == "acme")
            .order_by(TenantModelOverrideChange.id)
        ).all()
    assert changes == [
        ("set", None, "alice"),
        ("set", "openai:capable", "bob"),
        ("set", None, "api"),
        ("remove", "openai:cheap", "carol"),
    ]


async def test_no_replace_refuses_and_keeps_the_row(routing: Routing) -> None:
    routing.repo.set("acme", "support", "generation", "openai:capable")
    with pytest.raises(OverrideExistsError, match="tenant 'acme' already overrides agent 'support' step 'generation'"):
        routing.repo.set("acme", "support", "generation", "openai:cheap", replace=False)
    assert routing.repo.get("acme", "support", "generation").model_ref == "openai:capable"  # type: ignore[union-attr]


def test_database_rejects_duplicate_keys(routing: Routing) -> None:
    now = utcnow()
    row = dict(
        tenant_id="acme",
        agent_id="support",
        step="generation",
        model_ref="openai:cheap",
        created_at=now,
        updated_at=now,
        changed_by="x",
    )
    engine = routing.engine
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(TenantModelOverride.__table__.insert(), [row])
    with pytest.raises(IntegrityError), engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(TenantModelOverride.__table__.insert(), [row])


@pytest.mark.parametrize(
    ("args", "error", "fragment"),
    [
        (("acme", "support", "generation", "openai:gold"), ConfigError, "tier 'gold'"),
        (("acme", "support", "generation", "nope/model"), ConfigError, "unknown provider"),
        (("acme", "ghost", "generation", "openai:cheap"), NotFoundError, "unknown agent 'ghost'"),
        (("acme", "support", "greeting", "openai:cheap"), NotFoundError, "unknown step 'greeting'"),
        (("", "support", "generation", "openai:cheap"), ConfigError, "invalid tenant id"),
        (("a b", "support", "generation", "openai:cheap"), ConfigError, "invalid tenant id"),
    ],
)
def test_bad_writes_leave_no_row(
    routing: Routing, args: tuple[str, ...], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        routing.repo.set(*args)
    assert routing.repo.list() == []


def test_fallback_cycle_is_refused(routing: Routing) -> None:
    with pytest.raises(ConfigError, match=r"fallback_chain\[1\].*fallback cycle"):
        routing.repo.set(
            "acme", "support", "generation", "openai:capable", fallback_chain=["anthropic:capable", "openai/gpt-4o"]
        )
    with pytest.raises(ConfigError, match="list of model references"):
        routing.repo.set("acme", "support", "generation", "openai:capable", fallback_chain="anthropic:capable")  # type: ignore[arg-type]
    assert routing.repo.list() == []


# --- resolver ---------------------------------------------------------------------------------


def test_precedence(routing: Routing) -> None:
    r = routing.resolver
    # task default: support.scenario_filtering does scenario_navigation -> cheap on anthropic
    res = r.resolve("acme", "support", "scenario_filtering")
    assert (res.model.ref, res.source.value) == ("anthropic/claude-haiku-4-5", "task_default")
    assert "scenario_navigation" in res.reason and "default_provider 'anthropic'" in res.reason
    assert res.fallback_source == "default"
    # default chain: same tier on the other real providers, then one tier down (none below cheap)
    assert [m.ref for m in res.fallback_chain] == ["openai/gpt-4o-mini", "ollama/llama3.2:3b"]
    # catalog
    res = r.resolve("acme", "support", "generation")
    assert (res.model.ref, res.source.value, res.fallback_source) == (
        "anthropic/claude-sonnet-5",
        "agent_catalog",
        "agent_catalog",
    )
    assert "support.yaml: steps.generation" in res.reason
    # tenant '*' beats the catalog; the step's own row beats '*'
    routing.repo.set("acme", "support", "*", "openai:cheap", changed_by="ops")
    res = r.resolve("acme", "support", "generation")
    assert (res.model.ref, res.source.value) == ("openai/gpt-4o-mini", "tenant_override")
    assert "step='*' (all steps)" in res.reason and "changed by ops" in res.reason
    assert res.fallback_source == "agent_catalog"  # None in the row: the catalog's chain, minus the new primary
    assert [m.ref for m in res.fallback_chain] == ["openai/gpt-4o", "anthropic/claude-haiku-4-5"]
    routing.repo.set("acme", "support", "generation", "anthropic:premium", fallback_chain=[])
    res = r.resolve("acme", "support", "generation")
    assert (res.model.ref, res.fallback_chain, res.fallback_source) == (
        "anthropic/claude-opus-4-8",
        [],
        "tenant_override",
    )
    assert "step='generation'" in res.reason
    # other steps of the tenant still see '*'
    assert r.resolve("acme", "support", "enforcement").model.ref == "openai/gpt-4o-mini"


def test_tenants_do_not_see_each_other(routing: Routing) -> None:
    routing.repo.set("acme", "support", "*", "openai:cheap")
    assert routing.resolver.resolve("globex", "support", "generation").source.value == "agent_catalog"
    assert routing.repo.list("globex") == []


def test_all_steps_and_enum_or_str(routing: Routing) -> None:
    resolutions = routing.resolver.resolve_all("acme", "research")
    assert [r.step for r in resolutions] == list(PipelineStep)
    a = routing.resolver.resolve("acme", "research", PipelineStep.GENERATION)
    b = routing.resolver.resolve("acme", "research", "generation")
    assert a is b and a.model.ref == "openai/o1"


def test_cache_hits_and_invalidation_in_process(routing: Routing) -> None:
    r = routing.resolver
    first = r.resolve("acme", "support", "generation")
    assert r.resolve("acme", "support", "generation") is first
    routing.repo.set("acme", "support", "generation", "openai:capable")  # same process: invalidated at once
    assert r.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"
    routing.repo.remove("acme", "support", "generation")
    assert r.resolve("acme", "support", "generation").model.ref == "anthropic/claude-sonnet-5"


async def test_other_process_changes_seen_within_ttl(
    routing: Routing, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    r = routing.resolver
    assert r.resolve("acme", "support", "generation").source.value == "agent_catalog"
    other_engine = make_sync_engine(routing.url)
    other = OverrideRepository(registry, catalogs, engine=other_engine)  # another process's repository
    other.set("acme", "support", "generation", "openai:capable")
    other_engine.dispose()
    routing.clock.now += 4.9
    assert r.resolve("acme", "support", "generation").source.value == "agent_catalog"  # still cached
    routing.clock.now += 0.2
    assert r.resolve("acme", "support", "generation").model.ref == "openai/gpt-4o"
    assert (await r.aresolve("acme", "support", "generation")).model.ref == "openai/gpt-4o"


def test_bad_lookups(routing: Routing) -> None:
    with pytest.raises(NotFoundError, match="unknown agent"):
        routing.resolver.resolve("acme", "ghost", "generation")
    with pytest.raises(NotFoundError, match="unknown step"):
        routing.resolver.resolve("acme", "support", "greeting")
    with pytest.raises(ConfigError, match="invalid tenant id"):
        routing.resolver.resolve("bad tenant", "support", "generation")


def test_row_that_no_longer_resolves_names_the_row(routing: Routing) -> None:
    engine = routing.engine
    now = utcnow()
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            TenantModelOverride.__table__.insert(),
            [
                dict(
                    tenant_id="acme",
                    agent_id="support",
                    step="generation",
                    model_ref="openai/gpt-3.5-turbo",
                    created_at=now,
                    updated_at=now,
                    changed_by="legacy",
                )
            ],
        )
    with pytest.raises(ConfigError, match=r"tenant='acme' agent='support' step='generation'.*no longer resolves"):
        routing.resolver.resolve("acme", "support", "generation")


def test_timestamps_are_utc(routing: Routing) -> None:
    row = routing.repo.set("acme", "support", "generation", "openai:capable")
    assert row.updated_at.utcoffset() == dt.timedelta(0)
    engine = routing.engine
    with engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("select count(*) from tenant_model_overrides")).scalar_one() == 1
