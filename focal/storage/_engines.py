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
    """WAL with `synchronous=NORMAL` (SQLite's advice for WAL): a commit is not flushed to disk on its own,
    only at checkpoints, so a process crash loses nothing and a power loss at most the last commits; each
    commit costs no fsync (a turn commits about six times)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    cur.close()


_RECYCLE_SECONDS = 1800
"""PostgreSQL connections older than this are replaced when next checked out."""


def make_sync_engine(url: str | URL, *, pre_ping: bool = True, **kwargs: Any) -> Engine:
    """A synchronous engine (SQLite: WAL, synchronous=NORMAL, foreign keys, busy timeout; PostgreSQL: see
    `make_async_engine` for `pre_ping`)."""
    ensure_sqlite_dir(url)
    if backend(url) == "sqlite":
        engine = create_engine(sync_url(url), connect_args={"timeout": _SQLITE_BUSY_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(sync_url(url), pool_pre_ping=pre_ping, pool_recycle=_RECYCLE_SECONDS, **kwargs)


def make_async_engine(url: str | URL, *, pre_ping: bool = True, **kwargs: Any) -> AsyncEngine:
    """An asyncio engine on the same database (aiosqlite / psycopg 3).

    Args:
        url: the database URL.
        pre_ping: PostgreSQL: test each pooled connection with a round trip before use. Off, a connection a
            database restart broke fails the one statement that uses it, and the pool is then refreshed
            (connections are also replaced after 30 minutes); a turn makes about eight checkouts, so this
            saves as many round trips per turn.
        **kwargs: passed to SQLAlchemy's `create_async_engine`.
    """
    ensure_sqlite_dir(url)
    if backend(url) == "sqlite":
        engine = create_async_engine(async_url(url), connect_args={"timeout": _SQLITE_BUSY_MS / 1000}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(async_url(url), pool_pre_ping=pre_ping, pool_recycle=_RECYCLE_SECONDS, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def make_async_session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Async sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
