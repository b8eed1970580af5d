"""`OverrideRepository` on SQLite and PostgreSQL: CRUD, async twins, audit trail, validation, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from focal import ConfigError, NotFoundError, OverrideExistsError, StorageError
from focal.routing import AgentCatalogs, ModelRegistry, OverrideRepository, PipelineStep, TenantOverride
from focal.storage import (
    TenantModelOverride,
    TenantModelOverrideChange,
    make_async_engine,
    make_sync_engine,
    upgrade,
)

T0 = dt.datetime(2026, 11, 20, 9, 30, 0, 123456, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 11, 21, 17, 0, 5, tzinfo=dt.UTC)


@dataclass
class Db:
    url: str
    engine: Engine
    async_engine: AsyncEngine
    repo: OverrideRepository
    notified: list[tuple[str, str]]


@pytest.fixture
async def db(database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs) -> AsyncIterator[Db]:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    async_engine = make_async_engine(database_url)
    repo = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    notified: list[tuple[str, str]] = []
    repo.add_listener(lambda tenant, agent: notified.append((tenant, agent)))
    yield Db(database_url, engine, async_engine, repo, notified)
    await async_engine.dispose()
    engine.dispose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Pin the timestamp the repository writes (starts at T0)."""

    def pin(when: dt.datetime) -> None:
        monkeypatch.setattr("focal.routing.overrides.utcnow", lambda: when)

    pin(T0)
    return pin


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(TenantModelOverride)).scalar_one()


def _changes(engine: Engine) -> list[tuple[object, ...]]:
    c = TenantModelOverrideChange
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    c.tenant_id,
                    c.agent_id,
                    c.step,
                    c.action,
                    c.model_ref,
                    c.fallback_chain,
                    c.previous_model_ref,
                    c.changed_by,
                ).order_by(c.id)
            )
        ]


# --- CRUD --------------------------------------------------------------------------------------


def test_set_get_list_remove(db: Db, clock: Callable[[dt.datetime], None]) -> None:
    repo = db.repo
    created = repo.set(
        "acme", "support", "generation", "openai:capable", fallback_chain=["anthropic:capable"], changed_by="alice"
    )
    expected = TenantOverride(
        tenant_id="acme",
        agent_id="support",
        step="generation",
        model_ref="openai:capable",
        fallback_chain=("anthropic:capable",),
        created_at=T0,
        updated_at=T0,
        changed_by="alice",
    )
    assert created == expected
    assert repo.get("acme", "support", "generation") == expected  # read back from the database
    assert repo.get("acme", "support", PipelineStep.GENERATION) == expected
    assert repo.list() == [expected] == repo.for_tenant("acme")
    assert repo.get("acme", "support", "enforcement") is None
    assert repo.get("acme", "research", "generation") is None
    assert repo.get("globex", "support", "generation") is None
    assert repo.remove("acme", "support", "generation", changed_by="bob") is True
    assert repo.get("acme", "support", "generation") is None
    assert repo.remove("acme", "support", "generation") is False
    assert repo.list() == []
    assert db.notified == [("acme", "support"), ("acme", "support")]  # set and the one real remove


async def test_async_twins(db: Db, clock: Callable[[dt.datetime], None]) -> None:
    repo = db.repo
    created = await repo.aset("acme", "research", "*", "ollama:cheap", fallback_chain=[], changed_by="ops")
    assert (created.step, created.model_ref, created.fallback_chain, created.created_at) == (
        "*",
        "ollama:cheap",
        (),
        T0,
    )
    assert await repo.aget("acme", "research", "*") == created
    assert await repo.alist("acme") == [created] == await repo.afor_tenant("acme")
    assert repo.get("acme", "research", "*") == created  # same rows through the sync engine
    assert await repo.aremove("acme", "research", "*", changed_by="ops") is True
    assert await repo.aremove("acme", "research", "*") is False
    assert await repo.aget("acme", "research", "*") is None
    assert db.notified == [("acme", "research"), ("acme", "research")]


def test_defaults_and_timestamps_are_utc(db: Db) -> None:
    before = dt.datetime.now(dt.UTC)
    row = db.repo.set("acme", "support", "generation", "openai:capable")
    after = dt.datetime.now(dt.UTC)
    assert row.changed_by == "api" and row.fallback_chain is None
    stored = db.repo.get("acme", "support", "generation")
    assert stored is not None
    for stamp in (row.created_at, row.updated_at, stored.created_at, stored.updated_at):
        assert stamp.tzinfo is not None and stamp.utcoffset() == dt.timedelta(0)
        assert before <= stamp <= after
    assert stored.created_at == stored.updated_at == row.created_at


async def test_upsert_moves_updated_at_and_keeps_created_at(db: Db, clock: Callable[[dt.datetime], None]) -> None:
    db.repo.set("acme", "support", "generation", "openai:capable", fallback_chain=["anthropic:capable"], changed_by="a")
    clock(T1)
    again = await db.repo.aset("acme", "support", "generation", "anthropic:premium", changed_by="b")
    assert (again.created_at, again.updated_at) == (T0, T1)
    assert (again.model_ref, again.fallback_chain, again.changed_by) == ("anthropic:premium", None, "b")
    assert db.repo.get("acme", "support", "generation") == again
    assert _rows(db.engine) == 1


def test_replace_false_refuses_and_keeps_the_row(db: Db) -> None:
    first = db.repo.set("acme", "support", "generation", "openai:capable", replace=False)  # nothing there: fine
    db.notified.clear()
    with pytest.raises(OverrideExistsError) as info:
        db.repo.set("acme", "support", "generation", "openai:cheap", replace=False)
    assert str(info.value) == (
        "tenant 'acme' already overrides agent 'support' step 'generation' (model openai:capable); "
        "remove it first or allow replacing"
    )
    assert db.repo.get("acme", "support", "generation") == first
    assert db.notified == []  # nothing committed, nobody told
    assert [c[3] for c in _changes(db.engine)] == ["set"]  # no audit row for the refused write


async def test_async_replace_false_refuses(db: Db) -> None:
    await db.repo.aset("acme", "support", "*", "openai:capable")
    with pytest.raises(OverrideExistsError, match="tenant 'acme' already overrides agent 'support' step '\\*'"):
        await db.repo.aset("acme", "support", "*", "openai:cheap", replace=False)
    assert (await db.repo.aget("acme", "support", "*")).model_ref == "openai:capable"  # type: ignore[union-attr]


def test_fallback_chain_none_and_empty_are_distinct_and_order_is_kept(db: Db) -> None:
    db.repo.set("acme", "support", "generation", "openai:capable", fallback_chain=None)
    db.repo.set("acme", "support", "enforcement", "openai:capable", fallback_chain=[])
    db.repo.set(
        "acme",
        "support",
        "rule_filtering",
        "openai:cheap",
        fallback_chain=["ollama:cheap", "anthropic/claude-haiku-4-5"],
    )
    got = {o.step: o.fallback_chain for o in db.repo.list("acme")}
    assert got == {
        "generation": None,
        "enforcement": (),
        "rule_filtering": ("ollama:cheap", "anthropic/claude-haiku-4-5"),
    }
    with db.engine.connect() as conn:
        raw = dict(conn.execute(select(TenantModelOverride.step, TenantModelOverride.fallback_chain)).all())
    assert raw == {
        "generation": None,
        "enforcement": [],
        "rule_filtering": ["ollama:cheap", "anthropic/claude-haiku-4-5"],
    }


# --- audit trail -------------------------------------------------------------------------------


async def test_every_change_is_audited(db: Db) -> None:
    db.repo.set(
        "acme", "support", "generation", "openai:capable", fallback_chain=["anthropic:capable"], changed_by="alice"
    )
    await db.repo.aset("acme", "support", "generation", "anthropic:premium", changed_by="bob")
    await db.repo.aset("acme", "support", "*", "openai:cheap", fallback_chain=[])
    await db.repo.aremove("acme", "support", "*", changed_by="carol")
    db.repo.remove("acme", "support", "generation", changed_by="dave")
    db.repo.remove("acme", "support", "generation", changed_by="erin")  # nothing to remove: no audit row
    assert _changes(db.engine) == [
        ("acme", "support", "generation", "set", "openai:capable", ["anthropic:capable"], None, "alice"),
        ("acme", "support", "generation", "set", "anthropic:premium", None, "openai:capable", "bob"),
        ("acme", "support", "*", "set", "openai:cheap", [], None, "api"),
        ("acme", "support", "*", "remove", None, None, "openai:cheap", "carol"),
        ("acme", "support", "generation", "remove", None, None, "anthropic:premium", "dave"),
    ]
    with db.engine.connect() as conn:
        stamps = conn.execute(select(TenantModelOverrideChange.changed_at)).scalars().all()
    assert all(s.utcoffset() == dt.timedelta(0) for s in stamps)


# --- the database's own guarantees -------------------------------------------------------------


def test_database_rejects_duplicate_keys(db: Db) -> None:
    now = dt.datetime.now(dt.UTC)
    row = {
        "tenant_id": "acme",
        "agent_id": "support",
        "step": "generation",
        "model_ref": "openai:cheap",
        "created_at": now,
        "updated_at": now,
        "changed_by": "x",
    }
    with db.engine.begin() as conn:
        conn.execute(insert(TenantModelOverride), [row])
    with pytest.raises(IntegrityError, match=r"(?i)unique"), db.engine.begin() as conn:
        conn.execute(insert(TenantModelOverride), [row])
    with db.engine.begin() as conn:  # another step, tenant or agent is another key
        conn.execute(
            insert(TenantModelOverride), [row | {"step": "*"}, row | {"tenant_id": "b"}, row | {"agent_id": "r"}]
        )
    assert _rows(db.engine) == 4


def test_naive_datetimes_are_refused(db: Db) -> None:
    naive = dt.datetime(2026, 1, 1)
    row = {"tenant_id": "a", "agent_id": "support", "step": "*", "model_ref": "openai:cheap", "changed_by": "x"}
    with pytest.raises(StatementError, match="naive datetime given"), db.engine.begin() as conn:
        conn.execute(insert(TenantModelOverride), [row | {"created_at": naive, "updated_at": naive}])
    assert _rows(db.engine) == 0


# --- validation on write -----------------------------------------------------------------------


BAD_WRITES = [
    pytest.param(
        ("acme", "support", "generation", "openai:gold"),
        {},
        ConfigError,
        "model_ref: invalid model reference 'openai:gold': tier 'gold'",
        id="bad-tier",
    ),
    pytest.param(
        ("acme", "support", "generation", "gpt-4o"),
        {},
        ConfigError,
        "model_ref: invalid model reference 'gpt-4o'",
        id="malformed-ref",
    ),
    pytest.param(
        ("acme", "support", "generation", "nope/model"),
        {},
        ConfigError,
        "model_ref: unknown provider 'nope'",
        id="unknown-provider",
    ),
    pytest.param(
        ("acme", "support", "generation", "openai/gpt-9"),
        {},
        ConfigError,
        "model_ref: unknown model 'openai/gpt-9'",
        id="unknown-model",
    ),
    pytest.param(
        ("acme", "support", "generation", "openai:capable"),
        {"fallback_chain": ["anthropic:capable", "openai/gpt-4o"]},
        ConfigError,
        "fallback_chain[1]: fallback cycle: 'openai/gpt-4o' resolves to openai/gpt-4o, the primary model",
        id="cycle-primary",
    ),
    pytest.param(
        ("acme", "support", "generation", "openai:capable"),
        {"fallback_chain": ["anthropic:capable", "anthropic/claude-sonnet-5"]},
        ConfigError,
        "fallback_chain[1]: fallback cycle: 'anthropic/claude-sonnet-5' resolves to anthropic/claude-sonnet-5, "
        "an earlier entry",
        id="cycle-duplicate",
    ),
    pytest.param(
        ("acme", "support", "generation", "openai:capable"),
        {"fallback_chain": ["azure:cheap"]},
        ConfigError,
        "fallback_chain[0]: unknown provider 'azure'",
        id="unknown-fallback",
    ),
    pytest.param(
        ("acme", "support", "generation", "openai:capable"),
        {"fallback_chain": "anthropic:capable"},
        ConfigError,
        "fallback_chain: fallback_chain must be a list of model references",
        id="chain-is-a-string",
    ),
    pytest.param(
        ("acme", "ghost", "generation", "openai:cheap"),
        {},
        NotFoundError,
        "unknown agent 'ghost' (agents: research, support)",
        id="unknown-agent",
    ),
    pytest.param(
        ("acme", "support", "greeting", "openai:cheap"), {}, NotFoundError, "unknown step 'greeting'", id="unknown-step"
    ),
    pytest.param(
        ("", "support", "generation", "openai:cheap"),
        {},
        ConfigError,
        "tenant_id: invalid tenant id ''",
        id="empty-tenant",
    ),
    pytest.param(
        ("a b", "support", "generation", "openai:cheap"),
        {},
        ConfigError,
        "tenant_id: invalid tenant id 'a b'",
        id="space-tenant",
    ),
    pytest.param(
        ("t" * 129, "support", "generation", "openai:cheap"), {}, ConfigError, "invalid tenant id", id="long-tenant"
    ),
    pytest.param(
        ("acme\n", "support", "generation", "openai:cheap"),
        {},
        ConfigError,
        "tenant_id: invalid tenant id 'acme\\n'",
        id="tenant-with-trailing-newline",
    ),
    pytest.param(
        ("acme", "support", "generation", "openai:cheap"),
        {"changed_by": "x" * 129},
        ConfigError,
        "changed_by: changed_by (--by) is 129 characters long; at most 128",
        id="long-changed-by",
    ),
    pytest.param(
        ("acme", "support", "generation", "openai:cheap"),
        {"changed_by": " "},
        ConfigError,
        "changed_by: changed_by (--by) must name who makes the change",
        id="blank-changed-by",
    ),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), BAD_WRITES)
def test_bad_writes_leave_no_row(
    db: Db, args: tuple[str, ...], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        db.repo.set(*args, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert _rows(db.engine) == 0 and _changes(db.engine) == [] and db.notified == []


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), BAD_WRITES[:1] + BAD_WRITES[4:5] + BAD_WRITES[8:11])
async def test_bad_async_writes_leave_no_row(
    db: Db, args: tuple[str, ...], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        await db.repo.aset(*args, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert _rows(db.engine) == 0 and _changes(db.engine) == []


def test_a_bad_write_leaves_an_existing_row_alone(db: Db) -> None:
    good = db.repo.set("acme", "support", "generation", "openai:capable")
    with pytest.raises(ConfigError):
        db.repo.set("acme", "support", "generation", "openai:capable", fallback_chain=["openai:capable"])
    assert db.repo.get("acme", "support", "generation") == good


def test_unknown_step_on_read_and_remove(db: Db) -> None:
    with pytest.raises(NotFoundError, match="unknown step 'greeting'"):
        db.repo.get("acme", "support", "greeting")
    with pytest.raises(NotFoundError, match="unknown step 'greeting'"):
        db.repo.remove("acme", "support", "greeting")


# --- tenancy -----------------------------------------------------------------------------------


async def test_listing_never_crosses_tenants(db: Db) -> None:
    db.repo.set("acme", "support", "generation", "openai:capable")
    db.repo.set("acme", "research", "*", "openai:cheap")
    db.repo.set("globex", "support", "generation", "ollama:capable")
    db.repo.set("acme-eu", "support", "enforcement", "anthropic:cheap")  # a prefix of nobody's id
    assert [(o.tenant_id, o.agent_id, o.step) for o in db.repo.list()] == [
        ("acme", "research", "*"),
        ("acme", "support", "generation"),
        ("acme-eu", "support", "enforcement"),
        ("globex", "support", "generation"),
    ]
    for tenant in ("acme", "globex", "acme-eu"):
        assert {o.tenant_id for o in db.repo.list(tenant)} == {tenant}
        assert {o.tenant_id for o in await db.repo.alist(tenant)} == {tenant}
        assert {o.tenant_id for o in db.repo.for_tenant(tenant)} == {tenant}
    assert [o.tenant_id for o in db.repo.list(agent_id="support")] == ["acme", "acme-eu", "globex"]
    assert [o.step for o in db.repo.list("acme", "support")] == ["generation"]
    assert db.repo.list("initech") == []
    assert db.repo.get("globex", "research", "*") is None  # acme's row is not globex's
    assert db.repo.remove("globex", "research", "*") is False
    assert db.repo.get("acme", "research", "*") is not None


# --- storage errors ----------------------------------------------------------------------------


async def test_missing_schema_is_a_clear_error(
    database_url: str, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    engine = make_sync_engine(database_url)
    async_engine = make_async_engine(database_url)
    repo = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    try:
        for call in (
            lambda: repo.list(),
            lambda: repo.get("acme", "support", "generation"),
            lambda: repo.set("acme", "support", "generation", "openai:cheap"),
            lambda: repo.remove("acme", "support", "generation"),
        ):
            with pytest.raises(
                StorageError, match=r"^tenant_model_overrides is missing \(.*\): run `focal db upgrade`$"
            ):
                call()
        with pytest.raises(StorageError, match="run `focal db upgrade`"):
            await repo.alist("acme")
        with pytest.raises(StorageError, match="run `focal db upgrade`"):
            await repo.aset("acme", "support", "generation", "openai:cheap")
    finally:
        await async_engine.dispose()
        engine.dispose()


def test_unreachable_database_is_a_storage_error(registry: ModelRegistry, catalogs: AgentCatalogs) -> None:
    engine = make_sync_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    repo = OverrideRepository(registry, catalogs, engine=engine)
    try:
        with pytest.raises(StorageError, match=r"^database error: "):
            repo.list()
    finally:
        engine.dispose()


async def test_engines_required(registry: ModelRegistry, catalogs: AgentCatalogs, database_url: str) -> None:
    with pytest.raises(ValueError, match="needs an engine, an async engine, or both"):
        OverrideRepository(registry, catalogs)
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    async_engine = make_async_engine(database_url)
    try:
        sync_only = OverrideRepository(registry, catalogs, engine=engine)
        with pytest.raises(RuntimeError, match="no async engine; use the sync methods"):
            await sync_only.alist()
        async_only = OverrideRepository(registry, catalogs, async_engine=async_engine)
        with pytest.raises(RuntimeError, match="no sync engine; use the async methods"):
            async_only.list()
        await async_only.aset("acme", "support", "*", "openai:cheap")
        assert [o.step for o in sync_only.list()] == ["*"]
    finally:
        await async_engine.dispose()
        engine.dispose()


async def test_a_fallback_chain_given_as_a_generator_is_validated_and_stored_whole(db: Db) -> None:
    refs = ["ollama:cheap", "anthropic/claude-haiku-4-5"]
    assert db.repo.set("acme", "support", "rule_filtering", "openai:cheap", fallback_chain=(r for r in refs))
    assert (await db.repo.aget("acme", "support", "rule_filtering")).fallback_chain == tuple(refs)  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"fallback_chain\[1\]: fallback cycle"):
        db.repo.set(
            "acme", "support", "generation", "openai:cheap", fallback_chain=iter(["ollama:cheap", "openai:cheap"])
        )
