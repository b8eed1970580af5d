"""The engines' connection checks on PostgreSQL: with pre-ping a connection a restart broke is replaced
unseen; without it (Focal's default) it fails the one statement using it, and the pool recovers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.app import Focal
from focal.settings import FocalSettings
from focal.storage import make_async_engine


async def _break_pooled_connection(engine: AsyncEngine, admin: AsyncEngine) -> None:
    async with engine.connect() as conn:
        pid = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()
    async with admin.connect() as conn:  # as a database restart would
        await conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})


async def _one(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("select 1"))).scalar_one()


@pytest.mark.postgres
async def test_without_pre_ping_a_broken_connection_fails_once_then_the_pool_recovers(postgres_server: str) -> None:
    engine, admin = make_async_engine(postgres_server, pre_ping=False, pool_size=1), make_async_engine(postgres_server)
    try:
        await _break_pooled_connection(engine, admin)
        with pytest.raises(DBAPIError) as failed:
            await _one(engine)
        assert failed.value.connection_invalidated
        assert await _one(engine) == 1
    finally:
        await engine.dispose()
        await admin.dispose()


@pytest.mark.postgres
async def test_with_pre_ping_a_broken_connection_is_replaced_unseen(postgres_server: str) -> None:
    engine, admin = make_async_engine(postgres_server, pre_ping=True, pool_size=1), make_async_engine(postgres_server)
    try:
        await _break_pooled_connection(engine, admin)
        assert await _one(engine) == 1
    finally:
        await engine.dispose()
        await admin.dispose()


def test_focal_takes_pre_ping_from_its_settings(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("pre-ping is a PostgreSQL pool setting")
    for pre_ping in (False, True):
        settings = FocalSettings(database_url=database_url, data_dir=tmp_path, db_pre_ping=pre_ping)
        focal = Focal.open(settings, migrate=True)
        try:
            assert focal.async_engine.sync_engine.pool._pre_ping is pre_ping
            assert focal.engine.pool._pre_ping is pre_ping
        finally:
            focal.close()
