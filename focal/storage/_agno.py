"""Agno's own db object on the same database as Focal's tables."""

from __future__ import annotations

from typing import Any

from focal.storage._urls import async_url, backend, ensure_sqlite_dir, sync_url


def create_agno_db(url: str, *, asynchronous: bool = True, **kwargs: Any) -> Any:
    """`AsyncSqliteDb`/`SqliteDb` or `AsyncPostgresDb`/`PostgresDb` for the Focal database URL.

    Args:
        url: the Focal database URL.
        asynchronous: an async db (only `arun` works on it) or a sync one.
        **kwargs: passed to the Agno db class (table names, `db_schema`, `id`...).
    """
    ensure_sqlite_dir(url)
    if backend(url) == "sqlite":
        if asynchronous:
            from agno.db.sqlite import AsyncSqliteDb

            return AsyncSqliteDb(db_url=async_url(url).render_as_string(hide_password=False), **kwargs)
        from agno.db.sqlite import SqliteDb

        return SqliteDb(db_url=sync_url(url).render_as_string(hide_password=False), **kwargs)
    if asynchronous:
        from agno.db.postgres import AsyncPostgresDb

        return AsyncPostgresDb(db_url=async_url(url).render_as_string(hide_password=False), **kwargs)
    from agno.db.postgres import PostgresDb

    return PostgresDb(db_url=sync_url(url).render_as_string(hide_password=False), **kwargs)
