"""Session leases: one turn at a time per session across processes sharing a database.

A turn takes its session's lease (a row keyed by tenant and session id) before it reads the session
and gives it back when the session is written. A lease whose holder died is taken over once it has
expired, so its time-to-live must outlast the longest turn (the turn's deadline plus the session write).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.routing import check_tenant_id
from focal.storage import SessionLeaseRow, utcnow

__all__ = ["SessionLeases"]


class SessionLeases:
    """Leases on sessions in Focal's database (`session_leases`), one holder at a time.

    Args:
        async_engine: Focal's database.
        ttl_seconds: how long a lease lasts unless given back (longer than any turn).
    """

    def __init__(
        self, async_engine: AsyncEngine, *, ttl_seconds: float = 120.0, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._engine = async_engine
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._insert = pg_insert if async_engine.dialect.name == "postgresql" else sqlite_insert

    async def try_acquire(self, tenant_id: str, session_id: str) -> str | None:
        """Take the session's lease if it is free or expired: the holder token, else None (held)."""
        check_tenant_id(tenant_id)
        now, holder = self._clock(), uuid.uuid4().hex
        expires = now + dt.timedelta(seconds=self.ttl_seconds)
        insert = self._insert(SessionLeaseRow).values(
            tenant_id=tenant_id, session_id=session_id, holder=holder, expires_at=expires
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[SessionLeaseRow.tenant_id, SessionLeaseRow.session_id],
            set_={"holder": holder, "expires_at": expires},
            where=SessionLeaseRow.expires_at <= now,  # taken over only once its holder's time is up
        ).returning(SessionLeaseRow.holder)  # (a rowcount is not reliable for an upsert on every driver)
        async with self._engine.begin() as conn:
            taken = (await conn.execute(stmt)).scalar_one_or_none()
        return holder if taken == holder else None

    async def release(self, tenant_id: str, session_id: str, holder: str) -> bool:
        """Give the lease back; False if it was no longer this holder's (it expired and was taken over)."""
        stmt = delete(SessionLeaseRow).where(
            SessionLeaseRow.tenant_id == tenant_id,
            SessionLeaseRow.session_id == session_id,
            SessionLeaseRow.holder == holder,
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1
