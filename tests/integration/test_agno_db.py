"""Agno's own db object on Focal's database."""

from __future__ import annotations

from pathlib import Path

import pytest
from agno.agent import Agent
from agno.db.postgres import AsyncPostgresDb, PostgresDb
from agno.db.sqlite import AsyncSqliteDb, SqliteDb
from sqlalchemy import inspect, text

from focal import ConfigError
from focal.execution.testing import FakeModel
from focal.storage import create_agno_db, make_sync_engine, upgrade


def test_factory_picks_the_class(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert type(create_agno_db(url)) is AsyncSqliteDb
    assert type(create_agno_db(url, asynchronous=True)) is AsyncSqliteDb
    assert type(create_agno_db(url, asynchronous=False)) is SqliteDb
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"  # constructing does not connect
    assert type(create_agno_db(pg)) is AsyncPostgresDb
    assert type(create_agno_db(pg, asynchronous=False)) is PostgresDb
    assert type(create_agno_db("postgresql://postgres@127.0.0.1:5432/postgres", asynchronous=False)) is PostgresDb


def test_factory_uses_the_right_driver_for_each_flavour(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert create_agno_db(url).db_engine.url.drivername == "sqlite+aiosqlite"
    assert create_agno_db(url, asynchronous=False).db_engine.url.drivername == "sqlite"
    pg = "postgresql://postgres@127.0.0.1:5432/postgres"
    assert create_agno_db(pg).db_engine.url.drivername == "postgresql+psycopg"
    assert create_agno_db(pg, asynchronous=False).db_engine.url.drivername == "postgresql+psycopg"
    assert create_agno_db(pg, asynchronous=False).db_engine.url.database == "postgres"


def test_factory_passes_options_through_and_creates_the_sqlite_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "focal.db"
    db = create_agno_db(f"sqlite:///{path}", asynchronous=False, session_table="my_sessions", id="focal-db")
    assert path.parent.is_dir()
    assert (db.session_table_name, db.id) == ("my_sessions", "focal-db")


def test_factory_refuses_other_databases() -> None:
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        create_agno_db("mysql://u@h/db")


def test_sync_agent_session_is_written_to_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'focal.db'}"
    upgrade(url)  # Focal's tables and Agno's share one file
    db = create_agno_db(url, asynchronous=False)
    agent = Agent(model=FakeModel(default="stored"), db=db, telemetry=False)
    out = agent.run("hi", session_id="acme:support:s1", user_id="u1")
    assert out.content == "stored"
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("select session_id, user_id, session_type from agno_sessions")).all()
        assert [tuple(r) for r in rows] == [("acme:support:s1", "u1", "agent")]
        assert {"agno_sessions", "tenant_model_overrides"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
        db.db_engine.dispose()
    reader = create_agno_db(url, asynchronous=False)  # a fresh db object reads it back
    session = reader.get_session("acme:support:s1", "agent")
    reader.db_engine.dispose()
    assert session is not None and session.user_id == "u1"


async def test_agent_sessions_land_in_the_same_database(database_url: str) -> None:
    db = create_agno_db(database_url)
    agent = Agent(model=FakeModel(default="stored"), db=db, telemetry=False)
    out = await agent.arun("hi", session_id="acme:support:s1", user_id="u1")
    assert out.content == "stored"
    session = await db.get_session("acme:support:s1", "agent")
    assert session is not None and session.user_id == "u1"
    engine = make_sync_engine(database_url)
    names = set(inspect(engine).get_table_names()) | set(
        inspect(engine).get_table_names(schema="ai") if engine.dialect.name == "postgresql" else []
    )
    engine.dispose()
    assert "agno_sessions" in names
    await db.db_engine.dispose()
