"""`OverrideRepository` under concurrent writers, and values the database itself refuses (SQLite + PostgreSQL)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from focal import ConfigError, OverrideExistsError
from focal.routing import OverrideRepository, load_routing_config
from focal.storage import TenantModelOverride, TenantModelOverrideChange, make_async_engine, make_sync_engine, upgrade

REFS = ["openai:capable", "openai:cheap", "ollama:cheap", "anthropic:cheap", "ollama:capable"]


@pytest.fixture
async def repo(database_url: str, config_dir: Path) -> AsyncIterator[OverrideRepository]:
    upgrade(database_url)
    registry, catalogs = load_routing_config(config_dir)
    engine, async_engine = make_sync_engine(database_url), make_async_engine(database_url)
    yield OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
    await async_engine.dispose()
    engine.dispose()


def _log(repo: OverrideRepository) -> list[tuple[str, str | None, str | None, str]]:
    c = TenantModelOverrideChange
    with repo._engine.connect() as conn:  # type: ignore[union-attr]
        stmt = select(c.action, c.model_ref, c.previous_model_ref, c.changed_by).order_by(c.id)
        return [tuple(r) for r in conn.execute(stmt)]  # type: ignore[misc]


def _rows(repo: OverrideRepository) -> int:
    with repo._engine.connect() as conn:  # type: ignore[union-attr]
        return len(conn.execute(select(TenantModelOverride.id)).all())


async def test_concurrent_replacing_writers_of_a_new_key_all_succeed(repo: OverrideRepository) -> None:
    writers = [(f"w{i}", REFS[i % len(REFS)]) for i in range(20)]
    results = await asyncio.gather(
        *[repo.aset("race", "support", "generation", ref, changed_by=who) for who, ref in writers],
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    log = _log(repo)
    # one change-log row per successful write, none from the attempts that lost the race
    assert len(log) == 20 and sorted(who for *_, who in log) == sorted(who for who, _ in writers)
    assert all(action == "set" for action, *_ in log)
    # the writes were serialized: each one replaced the one logged before it, the first created the row
    assert log[0][2] is None
    assert [prev for _, _, prev, _ in log[1:]] == [ref for _, ref, _, _ in log[:-1]]
    row = await repo.aget("race", "support", "generation")
    assert row is not None and (row.model_ref, row.changed_by) == (log[-1][1], log[-1][3])
    assert _rows(repo) == 1


async def test_concurrent_non_replacing_writers_of_a_new_key_one_wins(repo: OverrideRepository) -> None:
    results = await asyncio.gather(
        *[
            repo.aset("race", "support", "generation", "openai:cheap", changed_by=f"w{i}", replace=False)
            for i in range(10)
        ],
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and all(isinstance(e, OverrideExistsError) for e in losers)
    assert [who for *_, who in _log(repo)] == [winners[0].changed_by]


def test_sync_set_retries_a_lost_race_and_replaces(repo: OverrideRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other writer commits between our read (nothing there) and our insert."""
    import focal.routing.overrides as overrides

    real_set, raced = overrides._set, []

    def set_after_a_rival(session, tenant_id, *args):  # type: ignore[no-untyped-def]
        if not raced:  # first attempt: a rival creates the key, and our read does not see it
            raced.append(True)
            rival = OverrideRepository(repo._registry, repo._catalogs, engine=repo._engine)
            rival.set(tenant_id, "support", "generation", "ollama:cheap", changed_by="rival")
            nothing = type("Nothing", (), {"one_or_none": staticmethod(lambda: None)})()
            monkeypatch.setattr(session, "scalars", lambda *a, **k: nothing)
        return real_set(session, tenant_id, *args)

    monkeypatch.setattr(overrides, "_set", set_after_a_rival)
    row = repo.set("acme", "support", "generation", "openai:cheap", changed_by="me")
    assert (row.model_ref, row.changed_by) == ("openai:cheap", "me")
    assert _log(repo) == [("set", "ollama:cheap", None, "rival"), ("set", "openai:cheap", "ollama:cheap", "me")]
    with pytest.raises(OverrideExistsError, match="overridden concurrently"):
        raced.clear()
        repo.set("globex", "support", "generation", "openai:cheap", changed_by="me", replace=False)
    assert _rows(repo) == 2  # acme's, and the rival's globex row; the refused write left nothing


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_value_postgresql_refuses_is_a_config_error(
    database_url: str, config_dir: Path, tmp_path: Path
) -> None:
    """SQLite stores any length; PostgreSQL's DataError must not escape raw."""
    configs = tmp_path / "configs"
    shutil.copytree(config_dir, configs)
    long_agent = "a" * 200  # a catalog file may be named anything; the column holds 128
    shutil.copy(configs / "agents" / "support.yaml", configs / "agents" / f"{long_agent}.yaml")
    text = (
        (configs / "agents" / f"{long_agent}.yaml").read_text().replace("agent_id: support", f"agent_id: {long_agent}")
    )
    (configs / "agents" / f"{long_agent}.yaml").write_text(text)
    upgrade(database_url)
    registry, catalogs = load_routing_config(configs)
    engine, async_engine = make_sync_engine(database_url), make_async_engine(database_url)
    try:
        repo = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
        with pytest.raises(ConfigError, match="the database refused a value: value too long"):
            repo.set("acme", long_agent, "generation", "openai:cheap")
        with pytest.raises(ConfigError, match="the database refused a value: value too long"):
            await repo.aset("acme", long_agent, "generation", "openai:cheap")
        assert _rows(repo) == 0 and _log(repo) == []
    finally:
        await async_engine.dispose()
        engine.dispose()


async def test_remove_and_get_check_their_arguments(repo: OverrideRepository) -> None:
    await repo.aset("acme", "support", "generation", "openai:cheap")
    with pytest.raises(ConfigError, match="changed_by"):
        repo.remove("acme", "support", "generation", changed_by="x" * 129)
    with pytest.raises(ConfigError, match="changed_by"):
        await repo.aremove("acme", "support", "generation", changed_by="")
    with pytest.raises(ConfigError, match="invalid tenant id 'acme\\\\n'"):
        repo.get("acme\n", "support", "generation")
    with pytest.raises(ConfigError, match="invalid tenant id 'acme\\\\n'"):
        await repo.aremove("acme\n", "support", "generation")
    assert _rows(repo) == 1 and len(_log(repo)) == 1
