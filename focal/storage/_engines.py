"""Engine and session factories over one database URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

from focal.storage._urls import async_url, backend, ensure_sqlite_dir, sync_url

_SQLITE_BUSY_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    cur.close()


def make_sync_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A synchronous engine (SQLite: WAL, foreign keys, busy timeout; PostgreSQL: pre-ping)."""
    ensure_sqlite_dir(url)
    if backend(url) == "sqlite":
        engine = create_engine(sync_url(url), connect_args={"timeout": _SQLITE_BUSY_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(sync_url(url), pool_pre_ping=True, **kwargs)


def make_async_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An asyncio engine on the same database (aiosqlite / psycopg 3)."""
    ensure_sqlite_dir(url)
    if backend(url) == "sqlite":
        engine = create_async_engine(async_url(url), connect_args={"timeout": _SQLITE_BUSY_MS / 1000}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(async_url(url), pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def make_async_session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Async sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
