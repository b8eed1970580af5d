"""Agno's own db object on Focal's database."""

from __future__ import annotations

from pathlib import Path

from agno.agent import Agent
from agno.db.postgres import AsyncPostgresDb, PostgresDb
from agno.db.sqlite import AsyncSqliteDb, SqliteDb
from sqlalchemy import inspect

from focal.execution.testing import FakeModel
from focal.storage import create_agno_db, make_sync_engine


def test_factory_picks_the_class(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert isinstance(create_agno_db(url), AsyncSqliteDb)
    assert isinstance(create_agno_db(url, asynchronous=False), SqliteDb)
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    assert isinstance(create_agno_db(pg), AsyncPostgresDb)
    assert isinstance(create_agno_db(pg, asynchronous=False), PostgresDb)


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
