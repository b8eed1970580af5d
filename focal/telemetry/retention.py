"""Retention: fold old call and run rows into daily aggregates, purge old rows, export to JSONL."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import stat
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from focal.storage.telemetry_tables import (
    LLMCallRow,
    TelemetryDailyAggregate,
    WorkflowRunDailyAggregate,
    WorkflowRunRow,
)
from focal.telemetry._encode import stored_identifier
from focal.telemetry._rows import row_to_call, row_to_run

__all__ = ["export_jsonl", "purge"]

_DIMS = ("tenant_id", "agent_id", "step_name", "provider", "tier", "model_id", "task_type", "status")
_TOKENS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nusd",
    "premium_cost_nusd",
)
"""Summed straight from the call rows."""
_SUMS = ("calls", *_TOKENS, "latency_ms_sum", "fallback_calls")
"""The aggregate columns a fold adds to."""

_RUN_DIMS = ("tenant_id", "agent_id", "workflow_name", "status")
_RUN_TOTALS = (
    "call_count",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_nusd",
    "premium_cost_nusd",
    "fallback_count",
)
"""Summed straight from the run rows."""
_RUN_SUMS = ("runs", *_RUN_TOTALS, "ended_runs", "duration_ms_sum")
"""The run aggregate columns a fold adds to (`max_cost_nusd` keeps the larger value instead)."""


def purge(
    engine: Engine, *, days: int, runs_days: int | None = None, apply: bool = False, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Rows older than their table's retention; with `apply`, fold them into daily aggregates and delete them.

    Call rows go to `telemetry_daily_aggregates`, workflow runs to `workflow_run_daily_aggregates`.
    Each fold sums exactly the rows its `DELETE ... RETURNING` removed, in the same transaction: a
    purge is all-or-nothing, a row that arrives meanwhile (a replayed spill) is either folded or
    kept, never lost, and totals in `TelemetryAnalytics.cost_by` / `savings_vs_premium` /
    `cost_by_workflow` / `top_expensive_workflows` stay the same afterwards. Folding adds to existing
    aggregate rows, so purging again later is safe.

    Args:
        engine: Focal's database (migrated).
        days: keep call rows from the last `days` days (at least 1).
        runs_days: keep workflow runs from the last `runs_days` days (default: `days`).
        apply: delete (default: only count).
        now: the reference time (tests).

    Returns:
        One row per table: table, cutoff, rows older than it (purged ones when `apply`), and `purged`.

    Raises:
        ValueError: `days` or `runs_days` below 1, or further back than year 1.
    """
    runs_days = days if runs_days is None else runs_days
    if min(days, runs_days) < 1:
        raise ValueError("retention days must be at least 1")
    current = now or dt.datetime.now(dt.UTC)
    try:
        cutoff = current - dt.timedelta(days=days)
        runs_cutoff = current - dt.timedelta(days=runs_days)
    except OverflowError:
        raise ValueError(f"retention of {max(days, runs_days)} days reaches back before year 1") from None
    with engine.begin() as conn:
        if apply:
            deleted = conn.execute(
                delete(LLMCallRow)
                .where(LLMCallRow.created_at < cutoff)
                .returning(*(LLMCallRow.__table__.c[c] for c in _RETURNED))
            )
            old_calls = _fold(conn, deleted)
            deleted_runs = conn.execute(
                delete(WorkflowRunRow)
                .where(WorkflowRunRow.started_at < runs_cutoff)
                .returning(*(WorkflowRunRow.__table__.c[c] for c in _RUNS_RETURNED))
            )
            old_runs = _fold_runs(conn, deleted_runs)
        else:
            old_calls = conn.execute(
                select(func.count()).select_from(LLMCallRow).where(LLMCallRow.created_at < cutoff)
            ).scalar_one()
            old_runs = conn.execute(
                select(func.count()).select_from(WorkflowRunRow).where(WorkflowRunRow.started_at < runs_cutoff)
            ).scalar_one()
    return [
        {"table": "llm_calls", "cutoff": cutoff, "rows": old_calls, "purged": apply},
        {"table": "workflow_runs", "cutoff": runs_cutoff, "rows": old_runs, "purged": apply},
    ]


_RETURNED = ("created_at", *_DIMS, *_TOKENS, "latency_ms", "fallback_hop")
_RUNS_RETURNED = ("started_at", "ended_at", *_RUN_DIMS, *_RUN_TOTALS)


def _fold(conn: Any, rows: Iterable[Any]) -> int:
    """Add `rows` (deleted call rows) to the daily aggregates; returns how many were folded."""
    totals: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: dict.fromkeys(_SUMS, 0))
    folded = 0
    for row in rows:
        m = row._mapping
        day = m["created_at"].astimezone(dt.UTC).date().isoformat()
        key = (day, *(m[d] if m[d] is not None else "" for d in _DIMS))
        t = totals[key]
        t["calls"] += 1
        for column in _TOKENS:
            t[column] += m[column] or 0
        t["latency_ms_sum"] += m["latency_ms"] or 0.0
        t["fallback_calls"] += 1 if m["fallback_hop"] else 0
        folded += 1
    _upsert(conn, TelemetryDailyAggregate.__table__, _DIMS, totals, added=_SUMS)
    return folded


def _fold_runs(conn: Any, rows: Iterable[Any]) -> int:
    """Add `rows` (deleted workflow runs) to the run daily aggregates; returns how many were folded."""
    totals: dict[tuple[Any, ...], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys((*_RUN_SUMS, "max_cost_nusd"), 0)
    )
    folded = 0
    for row in rows:
        m = row._mapping
        day = m["started_at"].astimezone(dt.UTC).date().isoformat()
        key = (day, *(m[d] if m[d] is not None else "" for d in _RUN_DIMS))
        t = totals[key]
        t["runs"] += 1
        for column in _RUN_TOTALS:
            t[column] += m[column] or 0
        t["max_cost_nusd"] = max(t["max_cost_nusd"], m["cost_nusd"] or 0)
        if m["ended_at"] is not None:
            t["ended_runs"] += 1
            t["duration_ms_sum"] += (m["ended_at"] - m["started_at"]).total_seconds() * 1000
        folded += 1
    _upsert(conn, WorkflowRunDailyAggregate.__table__, _RUN_DIMS, totals, added=_RUN_SUMS, greatest=("max_cost_nusd",))
    return folded


def _upsert(
    conn: Any,
    table: Any,
    dims: tuple[str, ...],
    totals: dict[tuple[Any, ...], dict[str, float]],
    *,
    added: tuple[str, ...],
    greatest: tuple[str, ...] = (),
) -> None:
    """Insert each `(day, *dims)` row of `totals`, or add `added` to the stored row and keep the larger `greatest`."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for key, sums in totals.items():
        values = dict(zip(("day", *dims), key, strict=True)) | sums
        stmt = insert(table).values(**values)
        new = stmt.excluded
        set_ = {c: table.c[c] + new[c] for c in added}
        set_ |= {c: case((new[c] > table.c[c], new[c]), else_=table.c[c]) for c in greatest}
        conn.execute(stmt.on_conflict_do_update(index_elements=["day", *dims], set_=set_))


def export_jsonl(
    engine: Engine, path: Path | str, *, tenant: str | None = None, since: dt.datetime | None = None
) -> dict[str, int]:
    """Write calls and runs as JSON lines (`{"type": "call" | "run", "record": {...}}`); returns counts.

    A regular file is written whole or not at all (a temporary file beside it, renamed over it,
    keeping the old file's permissions); a symlink is followed, and its target written so; a FIFO
    or a character device (`/dev/stdout`) is written directly.

    Raises:
        IsADirectoryError: `path` is a directory.
        OSError: `path` is another kind of file (a socket, a block device), or cannot be written.
    """
    target, stream = _export_target(Path(path))
    counts = {"calls": 0, "runs": 0}
    calls = select(LLMCallRow).order_by(LLMCallRow.created_at, LLMCallRow.call_id, LLMCallRow.attempt_id)
    runs = select(WorkflowRunRow).order_by(WorkflowRunRow.started_at, WorkflowRunRow.run_id)
    if tenant is not None:
        tenant = stored_identifier("tenant_id", tenant)  # as the store wrote it
        calls = calls.where(LLMCallRow.tenant_id == tenant)
        runs = runs.where(WorkflowRunRow.tenant_id == tenant)
    if since is not None:
        calls = calls.where(LLMCallRow.created_at >= since)
        runs = runs.where(WorkflowRunRow.started_at >= since)

    def write(fh: Any) -> None:
        with engine.connect() as conn:
            for row in conn.execute(calls).yield_per(5000):
                fh.write(json.dumps({"type": "call", "record": row_to_call(row).to_json_dict()}, default=str) + "\n")
                counts["calls"] += 1
            for row in conn.execute(runs).yield_per(5000):
                fh.write(json.dumps({"type": "run", "record": row_to_run(row).to_json_dict()}, default=str) + "\n")
                counts["runs"] += 1

    if stream:
        with target.open("a", encoding="utf-8") as fh:  # "a": a redirected stdout keeps what it holds
            write(fh)
        return counts
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}-{time.time_ns()}.partial")
    try:
        with tmp.open("x", encoding="utf-8") as fh:
            write(fh)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))  # an existing file keeps its permissions
        tmp.replace(target)  # never a half-written export under the requested name
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts


def _export_target(path: Path) -> tuple[Path, bool]:
    """Where an export to `path` writes, and whether directly (a stream) or by renaming a whole file over it."""
    if _is_descriptor(path):  # /dev/stdout redirected to a file (`>> out.log`) is appended to, never replaced
        return path, True
    try:
        mode = path.stat().st_mode  # of the symlink's target, for a symlink
    except FileNotFoundError:
        mode = None
    if mode is None or stat.S_ISREG(mode):
        return Path(os.path.realpath(path)), False  # a (dangling) symlink: its target is (re)placed, not the link
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return path, True
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory", str(path))
    raise OSError(errno.EINVAL, "not a regular file, FIFO or character device", str(path))


def _is_descriptor(path: Path) -> bool:
    """`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: an already open file of this process."""
    text = str(path)
    return text in ("/dev/stdout", "/dev/stderr") or text.startswith(("/dev/fd/", "/proc/self/fd/"))
