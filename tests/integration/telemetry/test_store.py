"""TelemetryStore on SQLite and PostgreSQL: batching, flush, spill on outage, replay with zero loss."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from focal.storage import LLMCallRow, WorkflowRunRow, make_async_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryStore, WorkflowRunRecord


def call(i: int, tenant: str = "acme") -> LLMCallRecord:
    return LLMCallRecord(
        tenant_id=tenant,
        agent_id="support",
        step_name="generation",
        provider="openai",
        tier="cheap",
        model_id="gpt-4o-mini",
        input_tokens=100 + i,
        output_tokens=10,
        total_tokens=110 + i,
        cost_usd=Decimal("0.000021") * (i + 1),
        premium_cost_usd=Decimal("0.0021"),
        run_id=f"run-{i % 3}",
    )


async def count(engine, table) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    upgrade(database_url)
    eng = make_async_engine(database_url)
    yield eng
    await eng.dispose()


async def test_records_are_batched_and_flushed(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path, batch_size=50, flush_interval=10)
    records = [call(i) for i in range(230)]
    for r in records:
        store.record_call(r)
    await store.flush()
    assert await count(engine, LLMCallRow) == 230
    assert store.records_written == 230 and store.records_spilled == 0
    async with engine.connect() as conn:
        row = (await conn.execute(select(LLMCallRow).where(LLMCallRow.call_id == records[4].call_id))).one()
    assert row.cost_nusd == 105_000 and row.premium_cost_nusd == 2_100_000
    assert row.created_at == records[4].created_at
    # duplicates (e.g. a replay of something already written) are ignored
    store.record_call(records[0])
    await store.aclose()
    assert await count(engine, LLMCallRow) == 230


async def test_run_records_are_upserted(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path)
    run = WorkflowRunRecord(tenant_id="acme", agent_id="support", workflow_name="alignment")
    store.record_run(run)
    await store.flush()
    run.add_call(call(1))
    run.status = "completed"
    store.record_run(run)
    await store.aclose()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(WorkflowRunRow))).all()
    assert len(rows) == 1 and rows[0].status == "completed" and rows[0].call_count == 1
    assert rows[0].steps == ["generation"]


async def test_recording_without_a_loop_then_closing(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path)
    await asyncio.to_thread(lambda: [store.record_call(call(i)) for i in range(5)])  # sync caller, no loop
    await store.aclose()
    assert await count(engine, LLMCallRow) == 5


async def test_full_buffer_spills_instead_of_dropping(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path, max_buffer=10, flush_interval=10, batch_size=1000)
    for i in range(25):
        store.record_call(call(i))  # no await in between: the writer cannot drain yet
    # 10 buffered, 10 more handed to the writer to spill off the event loop; only the last 5, past
    # both bounds, were written to the spill file by record_call itself
    assert (store.pending, store.records_spilled) == (20, 5)
    await store.flush()  # the writer spills its overflow (in a worker thread) and writes the buffer
    assert (store.pending, store.records_spilled, store.records_written) == (0, 15, 10)
    await store.aclose()  # replays the spill
    assert await count(engine, LLMCallRow) == 25
    assert not (tmp_path / "telemetry-spill.jsonl").exists()


async def test_records_after_close_are_spilled_and_replayed_next_time(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path)
    await store.aclose()
    store.record_call(call(1))
    assert (tmp_path / "telemetry-spill.jsonl").is_file()
    again = TelemetryStore(engine, spill_dir=tmp_path)
    assert await again.replay_spill() == 1
    assert await count(engine, LLMCallRow) == 1


async def _outage(database_url: str, engine) -> tuple:  # type: ignore[no-untyped-def]
    """Make the database unavailable; returns a function that brings it back."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        db_file = Path(url.database)
        await engine.dispose()
        moved = db_file.with_suffix(".away")
        db_file.rename(moved)
        db_file.mkdir()  # the path is now a directory: every connection fails

        async def restore() -> None:
            await engine.dispose()
            db_file.rmdir()
            moved.rename(db_file)

        return restore
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = url.database
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
    await engine.dispose()

    async def restore() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        await engine.dispose()

    return restore


async def test_database_outage_spills_and_replays_with_zero_loss(database_url: str, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path, batch_size=20, flush_interval=0.01, replay_interval=0)
    before = [call(i) for i in range(30)]
    for r in before:
        store.record_call(r)
    await store.flush()
    restore = await _outage(database_url, engine)
    during = [call(i, tenant="globex") for i in range(45)]
    for r in during:
        store.record_call(r)  # never raises, never blocks
    await store.flush()
    assert store.records_spilled == 45
    assert list(tmp_path.glob("telemetry-spill*"))  # on disk (possibly moved aside by a failed replay)
    await restore()
    after = [call(i, tenant="initech") for i in range(10)]
    for r in after:
        store.record_call(r)
    await store.aclose()
    async with engine.connect() as conn:
        ids = set((await conn.execute(select(LLMCallRow.call_id))).scalars())
    assert ids == {r.call_id for r in before + during + after}  # every record exactly once
    assert store.records_replayed == 45
    assert list(tmp_path.glob("telemetry-spill*")) == []


def test_store_survives_its_event_loop_ending(tmp_path: Path) -> None:
    """Records made from one event loop, then from another (a SyncExecutor's private loop ends)."""
    url = f"sqlite:///{tmp_path / 'loops.db'}"
    upgrade(url)

    async def first(store: TelemetryStore) -> None:
        store.record_call(call(1))
        await store.flush()

    engine = make_async_engine(url)
    store = TelemetryStore(engine, spill_dir=tmp_path)
    asyncio.run(first(store))

    async def second() -> int:
        engine2 = make_async_engine(url)
        store._engine = engine2  # a fresh pool for the new loop, as a new process would have
        store.record_call(call(2))
        await store.aclose()
        n = await count(engine2, LLMCallRow)
        await engine2.dispose()
        return n

    assert asyncio.run(second()) == 2


def snapshot(run: WorkflowRunRecord) -> WorkflowRunRecord:
    return WorkflowRunRecord.from_json_dict(run.to_json_dict())


async def test_a_run_row_never_goes_back_to_an_older_state(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The start of a run spilled during an outage is replayed after its end was written: the end stays."""
    run = WorkflowRunRecord(run_id="run-x", tenant_id="acme", agent_id="support", workflow_name="alignment")
    offline = TelemetryStore(engine, spill_dir=tmp_path)
    offline.close_sync()
    offline.record_run(snapshot(run))  # spilled: status running, no calls
    run.add_call(call(1))
    offline.record_run(snapshot(run))  # spilled: running, one call
    online = TelemetryStore(engine, spill_dir=tmp_path / "other")
    online.record_run(snapshot(run))
    await online.flush()
    run.add_call(call(2))
    run.status, run.ended_at = "completed", run.started_at + dt.timedelta(seconds=3)
    final = snapshot(run)
    online.record_run(final)
    await online.aclose()
    assert await TelemetryStore(engine, spill_dir=tmp_path).replay_spill() == 2
    async with engine.connect() as conn:
        (row,) = (await conn.execute(select(WorkflowRunRow))).all()
    assert (row.status, row.call_count, row.ended_at) == ("completed", 2, final.ended_at)

    # and a newer state in the spill does move an unfinished row forward
    later = WorkflowRunRecord(run_id="run-y", tenant_id="acme", agent_id="support", workflow_name="alignment")
    online = TelemetryStore(engine, spill_dir=tmp_path / "other")
    online.record_run(snapshot(later))
    await online.aclose()
    later.add_call(call(3))
    offline = TelemetryStore(engine, spill_dir=tmp_path)
    offline.close_sync()
    offline.record_run(snapshot(later))
    later.status, later.ended_at = "error", later.started_at + dt.timedelta(seconds=1)
    offline.record_run(snapshot(later))
    assert await TelemetryStore(engine, spill_dir=tmp_path).replay_spill() == 2
    async with engine.connect() as conn:
        row = (await conn.execute(select(WorkflowRunRow).where(WorkflowRunRow.run_id == "run-y"))).one()
    assert (row.status, row.call_count) == ("error", 1)


async def test_refused_records_do_not_hold_back_the_batch(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = [call(i) for i in range(6)]
    records[1].tenant_id = None  # type: ignore[assignment]  # NOT NULL everywhere
    records[4].model_id = "m" * 300  # longer than the column: cut to fit on both databases, not refused
    store = TelemetryStore(engine, spill_dir=tmp_path, batch_size=100)
    for r in records:
        store.record_call(r)
    await store.aclose()
    async with engine.connect() as conn:
        ids = set((await conn.execute(select(LLMCallRow.call_id))).scalars())
        long_model = (
            await conn.execute(select(LLMCallRow.model_id).where(LLMCallRow.call_id == records[4].call_id))
        ).scalar_one()
    assert len(long_model) == 128 and long_model.startswith("m" * 100)
    refused = {1}
    assert ids == {r.call_id for i, r in enumerate(records) if i not in refused}
    assert (store.records_rejected, store.records_spilled) == (len(refused), 0)
    lines = [json.loads(line) for line in store.rejected_path.read_text().splitlines()]
    assert sorted(x["record"]["call_id"] for x in lines) == sorted(records[i].call_id for i in refused)
