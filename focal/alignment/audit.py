"""`TurnStore`: the audit record of every alignment turn (`TurnRecord`), in Focal's `alignment_turns` table.

- `save(record, run=None)` writes the turn and, when given, its run's `workflow_runs` row in one
  transaction. The run row is written as the telemetry store writes it (`focal.telemetry.run_upsert`):
  inserted, or moved forward if the run is already recorded, never back (the store's later, final
  record of the run stays harmless). `record.run_id` joins the two.
- A turn number the session already has, or a turn id the tenant already has, is refused with
  `TurnExistsError`, and nothing is written (not the run row either).
- Every read names the tenant: a session id of another tenant is `NotFoundError`, whatever the string.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, String, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.alignment.turn import TurnRecord
from focal.errors import NotFoundError, StorageError
from focal.routing import check_tenant_id
from focal.storage import UnitRunner
from focal.storage.turn_tables import AlignmentTurnRow
from focal.telemetry import WorkflowRunRecord, run_upsert

__all__ = ["TurnExistsError", "TurnStore", "TurnSummary"]

T = TypeVar("T")
_NANO = Decimal(10**9)
_TABLE = AlignmentTurnRow.__table__
_LENGTHS: dict[str, int] = {
    c.name: c.type.length for c in _TABLE.columns if isinstance(c.type, String) and c.type.length is not None
}


class TurnExistsError(StorageError):
    """The session already has this turn number, or the tenant already has this turn id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSummary:
    """One turn as `TurnStore.list` shows it (the summary columns; `get` gives the whole record)."""

    tenant_id: str
    agent_id: str
    session_id: str
    turn_number: int
    turn_id: str
    run_id: str | None
    user_id: str | None
    config_version: str
    status: str
    """The enforcement status: passed | regenerated | fallback | not_checked."""
    reply: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    latency_ms: float
    created_at: dt.datetime


class TurnStore:
    """Turn records in Focal's database, on a sync engine, an async engine, or both.

    Args:
        engine: a sync engine of the (migrated) database; the sync methods need it.
        async_engine: an async engine of the same database; without it the `a*` methods run the
            sync ones in a worker thread.

    Raises:
        ValueError: neither engine given.
    """

    def __init__(self, engine: Engine | None = None, async_engine: AsyncEngine | None = None) -> None:
        self._units = UnitRunner("TurnStore", engine, async_engine)

    def _sync(self, work: Callable[[Connection], T], *, write: bool = False) -> T:
        return self._units.run(work, write=write)

    async def _async(self, work: Callable[[Connection], T], *, write: bool = False) -> T:
        return await self._units.arun(work, write=write)

    # --- writing -----------------------------------------------------------------------------

    def save(self, record: TurnRecord, run: WorkflowRunRecord | None = None) -> None:
        """Write `record`, and `run` when given, in one transaction.

        Args:
            record: the turn's audit record.
            run: the turn's workflow run (same tenant, `run.run_id == record.run_id`).

        Raises:
            TurnExistsError: the turn number or turn id is taken; nothing was written.
            ConfigError: a malformed tenant id.
            ValueError: a value too long for its column, a naive `created_at`, or a run of another
                tenant or run id.
        """
        self._sync(_writer(record, run), write=True)

    async def asave(self, record: TurnRecord, run: WorkflowRunRecord | None = None) -> None:
        """`save` on the async engine (see `save`)."""
        await self._async(_writer(record, run), write=True)

    # --- reading -------------------------------------------------------------------------------

    def get(self, tenant_id: str, session_id: str, turn_number: int | None = None) -> list[TurnRecord]:
        """A session's turns in order (all of them, or the one numbered `turn_number`).

        Raises:
            NotFoundError: the tenant has no such session (or no such turn in it).
            ConfigError: a malformed tenant id.
            StorageError: a stored record that no longer reads as a `TurnRecord`.
        """
        return self._sync(_getter(tenant_id, session_id, turn_number))

    async def aget(self, tenant_id: str, session_id: str, turn_number: int | None = None) -> list[TurnRecord]:
        """`get` on the async engine (see `get`)."""
        return await self._async(_getter(tenant_id, session_id, turn_number))

    def next_turn_number(self, tenant_id: str, session_id: str) -> int:
        """One more than the session's last recorded turn (1 for a session with none).

        Raises:
            ConfigError: a malformed tenant id.
        """
        return self._sync(_next_number(tenant_id, session_id))

    async def anext_turn_number(self, tenant_id: str, session_id: str) -> int:
        """`next_turn_number` on the async engine."""
        return await self._async(_next_number(tenant_id, session_id))

    async def alist(self, tenant_id: str, agent_id: str | None = None, limit: int = 50) -> list[TurnSummary]:
        """`list` on the async engine (see `list`)."""
        return await self._async(_lister(tenant_id, agent_id, limit))

    # `list` comes last: in annotations after it, `list` would name this method, not the builtin
    def list(self, tenant_id: str, agent_id: str | None = None, limit: int = 50) -> list[TurnSummary]:
        """A tenant's latest turns (of one agent, or all), newest first.

        Raises:
            ConfigError: a malformed tenant id.
            ValueError: `limit` below 1.
        """
        return self._sync(_lister(tenant_id, agent_id, limit))


# --- units of work (one per operation; each runs on a sync connection) -----------------------


def _writer(record: TurnRecord, run: WorkflowRunRecord | None) -> Callable[[Connection], None]:
    row = _row(record)
    if run is not None and (run.tenant_id != record.tenant_id or run.run_id != record.run_id):
        raise ValueError(
            f"the run ({run.tenant_id!r}, {run.run_id!r}) is not the turn's ({record.tenant_id!r}, {record.run_id!r})"
        )

    def work(conn: Connection) -> None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        # a write first (SQLite takes its write lock here); a conflict on either key writes nothing
        written = conn.execute(
            insert(AlignmentTurnRow).values(row).on_conflict_do_nothing().returning(AlignmentTurnRow.turn_number)
        ).scalar_one_or_none()
        if written is None:
            raise _conflict(conn, record)
        if run is not None:
            conn.execute(run_upsert(run, conn.dialect.name))

    return work


def _conflict(conn: Connection, record: TurnRecord) -> TurnExistsError:
    t = AlignmentTurnRow
    taken = conn.execute(
        select(t.turn_number).where(
            t.tenant_id == record.tenant_id, t.session_id == record.session_id, t.turn_number == record.turn_number
        )
    ).first()
    where = f"tenant {record.tenant_id!r}, session {record.session_id!r}"
    if taken is not None:
        return TurnExistsError(f"{where}: turn {record.turn_number} is already recorded")
    return TurnExistsError(f"tenant {record.tenant_id!r}: turn id {record.turn_id!r} is already recorded")


def _getter(tenant_id: str, session_id: str, turn_number: int | None) -> Callable[[Connection], list[TurnRecord]]:
    check_tenant_id(tenant_id)

    def work(conn: Connection) -> list[TurnRecord]:
        t = AlignmentTurnRow
        query = select(t.turn_number, t.record).where(t.tenant_id == tenant_id, t.session_id == session_id)
        if turn_number is not None:
            query = query.where(t.turn_number == turn_number)
        rows = conn.execute(query.order_by(t.turn_number)).all()
        if not rows:
            what = f"no session {session_id!r}" if turn_number is None else f"no turn {turn_number} in {session_id!r}"
            raise NotFoundError(f"tenant {tenant_id!r} has {what}")
        return [_record(tenant_id, session_id, number, payload) for number, payload in rows]

    return work


def _next_number(tenant_id: str, session_id: str) -> Callable[[Connection], int]:
    check_tenant_id(tenant_id)

    def work(conn: Connection) -> int:
        t = AlignmentTurnRow
        last = conn.execute(
            select(func.max(t.turn_number)).where(t.tenant_id == tenant_id, t.session_id == session_id)
        ).scalar_one()
        return int(last or 0) + 1

    return work


def _lister(tenant_id: str, agent_id: str | None, limit: int) -> Callable[[Connection], list[TurnSummary]]:
    check_tenant_id(tenant_id)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")

    def work(conn: Connection) -> list[TurnSummary]:
        t = AlignmentTurnRow
        query = select(*(c for c in _TABLE.columns if c.name != "record")).where(t.tenant_id == tenant_id)
        if agent_id is not None:
            query = query.where(t.agent_id == agent_id)
        query = query.order_by(t.created_at.desc(), t.session_id, t.turn_number.desc()).limit(limit)
        return [_summary(r._mapping) for r in conn.execute(query)]

    return work


# --- record ↔ row -----------------------------------------------------------------------------


def _row(record: TurnRecord) -> dict[str, Any]:
    """The `alignment_turns` row of a record (checked: nothing is cut to fit).

    Raises:
        ConfigError: a malformed tenant id.
        ValueError: a value longer than its column, or a naive `created_at`.
    """
    check_tenant_id(record.tenant_id)
    if record.created_at.tzinfo is None:
        raise ValueError(f"turn {record.turn_id!r}: created_at must be timezone-aware")
    row: dict[str, Any] = {
        "tenant_id": record.tenant_id,
        "session_id": record.session_id,
        "turn_number": record.turn_number,
        "turn_id": record.turn_id,
        "agent_id": record.agent_id,
        "run_id": record.run_id,
        "user_id": record.user_id,
        "config_version": record.config_version,
        "reply": record.reply.replace("\x00", ""),  # PostgreSQL text holds no NUL; `record` keeps the reply whole
        "status": record.enforcement.status,
        "cost_nusd": int((record.cost_usd * _NANO).to_integral_value()),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "latency_ms": record.latency_ms,
        "created_at": record.created_at,
        "record": record.model_dump(mode="json"),
    }
    for column, length in _LENGTHS.items():
        value = row[column]
        if value is not None and len(value) > length:
            raise ValueError(f"turn {record.turn_id!r}: {column} is {len(value)} characters long; at most {length}")
    return row


def _record(tenant_id: str, session_id: str, number: int, payload: dict[str, Any]) -> TurnRecord:
    try:
        return TurnRecord.model_validate(payload)
    except ValidationError as exc:
        raise StorageError(
            f"tenant {tenant_id!r}, session {session_id!r}: stored turn {number} cannot be read: "
            f"{exc.errors()[0]['msg']}"
        ) from None


def _summary(m: Any) -> TurnSummary:
    return TurnSummary(
        tenant_id=m["tenant_id"],
        agent_id=m["agent_id"],
        session_id=m["session_id"],
        turn_number=m["turn_number"],
        turn_id=m["turn_id"],
        run_id=m["run_id"],
        user_id=m["user_id"],
        config_version=m["config_version"],
        status=m["status"],
        reply=m["reply"],
        input_tokens=m["input_tokens"],
        output_tokens=m["output_tokens"],
        cost_usd=Decimal(m["cost_nusd"] or 0) / _NANO,
        latency_ms=m["latency_ms"],
        created_at=m["created_at"],
    )
