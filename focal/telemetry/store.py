"""`TelemetryStore`: a batched, never-blocking writer of call and run records, with a JSONL spill.

- `record_call` / `record_run` are synchronous and O(1): they append to an in-memory buffer and
  wake the writer task. They never raise and never wait on the database.
- The writer inserts in batches (one transaction per batch; duplicates ignored, runs upserted).
  A run's row only moves forward: an older state of a run (e.g. its `running` record replayed from
  the spill after its final record was written) never overwrites a newer one.
- If the database fails, the batch is appended to a JSONL spill file; the spill is replayed (idempotently,
  in batches, without loading the file into memory) once the database answers again, on the next
  start, and on `aclose()`.
- If the buffer is full (`max_buffer`), records go to the spill file rather than being dropped: the
  writer spills them from a worker thread (an overflow list of up to `max_buffer` more records holds
  them until then); only past that, or with no writer running, does `record_call` write the file itself.
  If the spill file cannot be written either, a failed batch stays in memory and is retried.
- Spill writes (fsync'd) run in a worker thread, never on the event loop. The spill directory may be
  shared by several processes: a file lock keeps each write whole and out of a file being replayed,
  and a file is replayed by one store at a time (see `_spill`).
- Strings are cut to their columns and stripped of NUL bytes, metadata is made plain JSON (see
  `_encode`): SQLite and PostgreSQL store the same records.
- A record the database refuses for its content (a missing required value: `DataError` /
  `IntegrityError`), or one that cannot be encoded (a `TypeError` / `ValueError` while turning it
  into a row or from the driver adapting a value), is not an outage:
  the batch is retried record by record, and the refused records are appended, with the error, to
  `telemetry-rejected.jsonl` (kept for a human, never replayed) so one bad record cannot hold back
  the others.
- `await flush()` returns once everything recorded so far is in the database or spilled;
  `await aclose()` flushes, replays what it can and stops. Nothing recorded is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.logging import get_logger
from focal.storage.telemetry_tables import WorkflowRunRow
from focal.telemetry import _spill
from focal.telemetry._encode import call_insert, plain_json, run_row
from focal.telemetry._spill import SPILL_FILE
from focal.telemetry.records import LLMCallRecord, WorkflowRunRecord

__all__ = ["TelemetryStore", "run_upsert"]

log = get_logger("focal.telemetry")

REJECTED_FILE = "telemetry-rejected.jsonl"
_Record = LLMCallRecord | WorkflowRunRecord


class TelemetryStore:
    """Batched async writer of `LLMCallRecord`s and `WorkflowRunRecord`s.

    Args:
        engine: the async engine of Focal's database (migrated).
        spill_dir: where the JSONL spill file lives.
        batch_size: records per insert batch.
        flush_interval: the longest a record waits in the buffer, in seconds.
        max_buffer: records held in memory before new ones are spilled to disk.
        replay_interval: how often, at most, a spill is retried while the database is down.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        spill_dir: Path | str,
        batch_size: int = 1000,
        flush_interval: float = 0.2,
        max_buffer: int = 100_000,
        replay_interval: float = 5.0,
    ) -> None:
        self._engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._call_sql, self._call_params = call_insert(engine.dialect.name)
        self.spill_dir = Path(spill_dir)
        self.spill_path = self.spill_dir / SPILL_FILE
        self.rejected_path = self.spill_dir / REJECTED_FILE
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer
        self._replay_interval = replay_interval
        self._buffer: deque[LLMCallRecord | WorkflowRunRecord] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self._last_replay_attempt = 0.0
        self._db_ok = True
        self.records_written = 0
        self.records_spilled = 0
        self.records_replayed = 0
        self.records_rejected = 0
        self._overflow: list[_Record] = []
        self._spill_lock = threading.Lock()

    # --- recording (hot path) ---------------------------------------------------------------

    def record_call(self, record: LLMCallRecord) -> None:
        """Queue one call record. Never raises, never blocks on the database."""
        self._record(record)

    def record_run(self, record: WorkflowRunRecord) -> None:
        """Queue one run record (a later record of the same run replaces the earlier one)."""
        self._record(record)

    def _record(self, record: LLMCallRecord | WorkflowRunRecord) -> None:
        try:
            if len(self._buffer) >= self._max_buffer and not self._closed:
                writer_alive = self._task is not None and not self._task.done() and self._wake is not None
                if writer_alive and len(self._overflow) < self._max_buffer:
                    self._overflow.append(record)  # spilled by the writer, off the event loop
                    self._wake.set()  # type: ignore[union-attr]
                    return
            if self._closed or len(self._buffer) >= self._max_buffer:
                self._spill([record])  # no writer to hand it to (or it is far behind): write it now
                return
            self._buffer.append(record)
            if self._task is None or self._task.done():  # first record, or the writer's loop has ended
                self._start()
            elif self._wake is not None and len(self._buffer) >= self._batch_size:
                self._wake.set()
        except Exception as exc:  # telemetry never fails a call
            log.error("telemetry_record_failed", error=str(exc))

    def _start(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (sync caller): the buffer is written by flush()/aclose() or spilled
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        # a fresh context: the writer serves every tenant, it must not carry the first caller's bindings
        self._task = loop.create_task(self._run(), name="focal-telemetry-writer", context=contextvars.Context())

    # --- writer -------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        with contextlib.suppress(Exception):
            await self._maybe_replay(force=True)
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._write_buffered()
                await self._maybe_replay()
            except Exception as exc:  # the writer must outlive any single failure
                log.error("telemetry_writer_error", error=str(exc))

    async def _write_buffered(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._overflow:
                overflow, self._overflow = self._overflow, []
                try:
                    await asyncio.to_thread(self._spill, overflow)
                except Exception as spill_exc:  # disk failing: try the database with the rest
                    self._buffer.extend(overflow)
                    log.error("telemetry_spill_failed", error=_first_line(spill_exc), records=len(overflow))
            while self._buffer:
                batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
                try:
                    self.records_written += await self._insert_or_reject(batch)
                    if not self._db_ok:
                        log.info("telemetry_database_back")
                    self._db_ok = True
                except Exception as exc:
                    if self._db_ok:
                        log.error("telemetry_database_unavailable", error=_first_line(exc), spill=str(self.spill_path))
                    self._db_ok = False
                    try:
                        await asyncio.to_thread(self._spill, batch)
                    except Exception as spill_exc:  # disk failing too: keep the batch, try again later
                        self._buffer.extendleft(reversed(batch))
                        log.error("telemetry_spill_failed", error=_first_line(spill_exc), records=len(batch))
                        return
                except BaseException:  # cancelled mid-insert (the loop is ending): keep the batch
                    self._buffer.extendleft(reversed(batch))
                    raise

    async def _insert_or_reject(self, records: list[_Record]) -> int:
        """Insert a batch; if the database refuses its content, insert record by record and set the
        refused ones aside in the rejected file. Returns how many were accepted.

        Raises:
            Exception: anything else (the database is unreachable, a table is missing, ...): the caller spills.
        """
        try:
            await self._insert_records(records)
            return len(records)
        except Exception as exc:
            if not _refused(exc):
                raise
            if len(records) == 1:
                self._reject(records[0], exc)
                return 0
        accepted = 0
        for record in records:
            try:
                await self._insert_records([record])
                accepted += 1
            except Exception as exc:
                if not _refused(exc):
                    raise
                self._reject(record, exc)
        return accepted

    def _reject(self, record: _Record, exc: BaseException) -> None:
        kind = "call" if isinstance(record, LLMCallRecord) else "run"
        self._write_rejected({"type": kind, "error": _first_line(exc), "record": record.to_json_dict()})

    def _reject_line(self, line: str, error: str) -> None:
        self._write_rejected({"type": "unreadable", "error": error, "line": line})

    def _write_rejected(self, item: dict[str, Any]) -> None:
        line = _json_line(item)
        try:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            with self.rejected_path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as write_exc:
            log.error("telemetry_reject_write_failed", error=str(write_exc), record=line)
        self.records_rejected += 1
        log.error("telemetry_record_rejected", error=item["error"], file=str(self.rejected_path))

    async def _insert_records(self, records: Iterable[_Record]) -> None:
        calls: list[tuple[Any, ...]] = []
        runs: dict[tuple[str, str], dict[str, Any]] = {}
        try:
            for record in records:
                if isinstance(record, LLMCallRecord):
                    calls.append(self._call_params(record))
                else:
                    runs[(record.tenant_id, record.run_id)] = run_row(record)  # the latest state of a run wins
        except Exception as exc:  # a malformed record (wrong types): not a database problem
            raise _Unencodable(f"{type(exc).__name__}: {exc}") from exc
        async with self._engine.begin() as conn:
            if calls:
                # the hot path: one driver-level executemany, no per-row SQL compilation
                await conn.exec_driver_sql(self._call_sql, calls)
            if runs:
                await conn.execute(self._run_upsert(), list(runs.values()))

    def _run_upsert(self) -> Any:
        return _run_upsert(self._insert)

    # --- spill and replay ------------------------------------------------------------------

    def _spill(self, records: list[LLMCallRecord | WorkflowRunRecord]) -> None:
        """Append records to the JSONL spill file, fsync'd (blocking: the writer runs it in a thread)."""
        lines = []
        for record in records:  # each line on its own: one record's odd value never holds back the rest
            kind = "call" if isinstance(record, LLMCallRecord) else "run"
            lines.append(_json_line({"type": kind, "record": record.to_json_dict()}))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        with self._spill_lock:  # one thread of this process at a time (the file lock covers processes)
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            _spill.append(self.spill_path, data)
            self.records_spilled += len(records)

    def _pending_spills(self) -> list[Path]:
        if not self.spill_dir.is_dir():
            return []
        return _spill.leftovers(self.spill_dir) + ([self.spill_path] if self.spill_path.is_file() else [])

    async def _maybe_replay(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_replay_attempt < self._replay_interval:
            return
        self._last_replay_attempt = now
        if self._pending_spills():
            await self.replay_spill()

    async def replay_spill(self) -> int:
        """Insert spilled records into the database (idempotent); returns how many were replayed.

        The spill file is moved aside first, so records spilled meanwhile go to a fresh file; a
        replay that fails leaves its file in place for the next attempt. A file another process
        (or store) is replaying is left to it.
        """
        replayed = 0
        for path in self._pending_spills():
            claimed = await asyncio.to_thread(_spill.claim, path, self.spill_path)
            if claimed is None:
                continue
            target, lock_fd = claimed
            try:
                try:
                    count = await self._replay_file(target)
                except Exception as exc:
                    self._db_ok = False
                    log.warning("telemetry_replay_failed", error=_first_line(exc), file=str(target))
                    return replayed
                _spill.remove(target)
            finally:
                os.close(lock_fd)  # after the unlink: no other replay can take the file in between
            replayed += count
            self.records_replayed += count
            self._db_ok = True
        if replayed:
            log.info("telemetry_replayed", records=replayed)
        return replayed

    async def _replay_file(self, path: Path) -> int:
        """Insert one spill file's records batch by batch (the whole file is never held in memory),
        from where an earlier replay of it stopped."""
        count = 0
        batch: list[LLMCallRecord | WorkflowRunRecord] = []
        end = start = _spill.progress(path)
        # closing(): the file is closed even if an insert fails midway
        with contextlib.closing(_spill.read(path, self._reject_line, start)) as records:
            for record, end in records:
                batch.append(record)
                if len(batch) >= self._batch_size:
                    count += await self._insert_or_reject(batch)
                    batch = []
                    await asyncio.to_thread(_spill.save_progress, path, end)
        if batch:
            count += await self._insert_or_reject(batch)
        return count

    # --- lifecycle -------------------------------------------------------------------------

    async def flush(self) -> None:
        """Return once everything recorded so far is in the database or spilled."""
        await self._write_buffered()

    async def aclose(self) -> None:
        """Flush, replay what the database accepts, and stop the writer. Later records are spilled."""
        if self._closed:
            return
        await self._write_buffered()
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._write_buffered()
        if self._db_ok:
            await self.replay_spill()

    def close_sync(self) -> None:
        """For callers without an event loop: spill whatever is still buffered (replayed on the next start)."""
        self._closed = True
        pending = [*self._overflow, *self._buffer]
        self._overflow = []
        self._buffer.clear()
        if pending:
            self._spill(pending)

    @property
    def pending(self) -> int:
        """Records waiting in memory."""
        return len(self._buffer) + len(self._overflow)


def run_upsert(record: WorkflowRunRecord, dialect: str) -> Any:
    """The statement the store writes `record`'s `workflow_runs` row with, for a caller that writes a run
    in its own transaction (the turn audit writes it beside the turn record).

    Args:
        record: the run.
        dialect: the connection's dialect name (`conn.dialect.name`).
    """
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return _run_upsert(insert).values(run_row(record))


def _run_upsert(insert: Any) -> Any:
    """INSERT a run, or update its row unless the stored state is newer than the incoming one.

    A stored run that has ended is final; otherwise the incoming state wins if it has ended or has
    folded in at least as many calls. Replays (which may arrive out of order) are thus harmless.
    """
    table = WorkflowRunRow.__table__
    stmt = insert(table)
    newer = table.c.ended_at.is_(None) & (
        stmt.excluded.ended_at.is_not(None) | (stmt.excluded.call_count >= table.c.call_count)
    )
    updatable = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in ("tenant_id", "run_id")}
    return stmt.on_conflict_do_update(index_elements=["tenant_id", "run_id"], set_=updatable, where=newer)


class _Unencodable(Exception):
    """A record could not be turned into a row (e.g. a field of the wrong type)."""


def _refused(exc: BaseException) -> bool:
    """Whether an insert failed because of the records' content (retrying cannot help), rather than
    because the database is unavailable."""
    if isinstance(exc, DataError | IntegrityError | _Unencodable):
        return True
    # raised by the driver while encoding a parameter (psycopg adapting a value): never an outage
    if isinstance(exc, TypeError | ValueError):
        return True
    # a StatementError that is not a driver error failed while binding parameters (type processing)
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _json_line(item: dict[str, Any]) -> str:
    """One JSONL line for the spill or rejected file: plain JSON whatever the record holds (a tuple
    key, a value whose `str()` fails), so writing it can never fail on its content."""
    try:
        return json.dumps(plain_json(item))
    except Exception as exc:  # a value that cannot even be turned into a string
        return json.dumps({"type": "unencodable", "error": f"{type(exc).__name__}: {exc}", "repr": repr(item)[:10_000]})
