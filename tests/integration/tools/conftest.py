"""A database migrated and seeded with the shipped demo data (SQLite and PostgreSQL), and the shipped
registry over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from agno.run import RunContext
from focal.tools import ToolRegistry, seed_demo_data, shipped_registry
from sqlalchemy import Engine

from focal.storage import make_async_engine, make_sync_engine, upgrade


def ctx(tenant: str | None = "acme", user: str | None = "u-42", **state: object) -> RunContext:
    """A turn's run context as the workflow builds it: the host's tenant in session_state."""
    session_state = {"tenant_id": tenant, "agent_id": "support", **state} if tenant is not None else dict(state)
    return RunContext(run_id="run-1", session_id=f"{tenant}:support:c1", user_id=user, session_state=session_state)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def seeded(engine: Engine, database_url: str) -> str:
    seed_demo_data(engine)
    return database_url


@pytest.fixture
async def registry(seeded: str) -> AsyncIterator[ToolRegistry]:
    engine = make_async_engine(seeded)
    yield shipped_registry(engine)
    await engine.dispose()
