"""TelemetryStore failure paths on a local SQLite file: nothing recorded is ever silently dropped."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.storage import LLMCallRow, make_async_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryStore, WorkflowRunRecord


def call(i: int, **kw: object) -> LLMCallRecord:
    base: dict[str, object] = dict(
        tenant_id="acme", agent_id="support", step_name="generation", provider="openai", tier="cheap", model_id="m"
    )
    base.update(kw)
    return LLMCallRecord(call_id=f"call-{i:04d}", attempt_id=f"attempt-{i:04d}", **base)  # type: ignore[arg-type]


async def call_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(LLMCallRow.call_id))).scalars())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "focal.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_async_engine(f"sqlite:///{db_path}")
    yield eng
    await eng.dispose()


def test_construction_and_recording_need_no_event_loop(engine: AsyncEngine, tmp_path: Path) -> None:
    store = TelemetryStore(engine, spill_dir=tmp_path / "spill")
    store.record_call(call(1))
    store.record_run(WorkflowRunRecord(tenant_id="acme", agent_id="support", workflow_name="w"))
    assert store.pending == 2  # buffered until a loop's flush / aclose, or spilled by close_sync
    store.close_sync()
    assert store.pending == 0 and store.records_spilled == 2
    kinds = [json.loads(line)["type"] for line in store.spill_path.read_text().splitlines()]
    assert kinds == ["call", "run"]


def test_recording_never_raises_even_when_nothing_can_be_written(engine: AsyncEngine, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = TelemetryStore(engine, spill_dir=blocker / "spill")  # the spill dir cannot be created
    store.close_sync()
    store.record_call(call(1))  # closed: goes to the spill, which fails; the caller never sees it
    store.record_run(WorkflowRunRecord(tenant_id="acme", agent_id="support", workflow_name="w"))
    assert store.records_spilled == 0


async def test_a_missing_table_is_an_outage_spilled_then_replayed(
    db_path: Path, engine: AsyncEngine, tmp_path: Path
) -> None:
    store = TelemetryStore(engine, spill_dir=tmp_path / "spill", batch_size=7, replay_interval=3600)
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE llm_calls RENAME TO llm_calls_away")
    for i in range(20):
        store.record_call(call(i))
    await store.flush()
    assert (store.records_written, store.records_spilled) == (0, 20)
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE llm_calls_away RENAME TO llm_calls")
    await engine.dispose()  # connections may have cached the old schema
    for i in range(20, 25):
        store.record_call(call(i))
    await store.aclose()  # writes the buffer; the database answered, so the spill is replayed
    assert await call_ids(engine) == [f"call-{i:04d}" for i in range(25)]
    assert (store.records_written, store.records_replayed) == (5, 20)
    assert not store.spill_path.exists()


async def test_when_the_spill_fails_too_the_batch_stays_in_memory(
    db_path: Path, engine: AsyncEngine, tmp_path: Path
) -> None:
    blocker = tmp_path / "spill"
    blocker.write_text("")  # a file where the spill directory should be
    store = TelemetryStore(engine, spill_dir=blocker, batch_size=4)
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE llm_calls RENAME TO llm_calls_away")
    for i in range(10):
        store.record_call(call(i))
    await store.flush()  # returns (does not raise, does not hang)
    assert store.pending == 10 and store.records_spilled == 0
    blocker.unlink()  # the disk is back
    await store.flush()
    assert store.pending == 0 and store.records_spilled == 10
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE llm_calls_away RENAME TO llm_calls")
    await engine.dispose()
    assert await store.replay_spill() == 10
    assert await call_ids(engine) == [f"call-{i:04d}" for i in range(10)]


async def test_cancelled_write_keeps_its_batch(engine: AsyncEngine, tmp_path: Path) -> None:
    store = TelemetryStore(engine, spill_dir=tmp_path)
    started = asyncio.Event()

    async def hang(records: object) -> None:
        started.set()
        await asyncio.Event().wait()

    store._insert_records = hang  # type: ignore[method-assign]
    for i in range(3):
        store.record_call(call(i))
    flushing = asyncio.create_task(store.flush())
    await started.wait()
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert store.pending == 3
    del store._insert_records  # back to the real insert
    await store.aclose()
    assert len(await call_ids(engine)) == 3


async def test_refused_records_are_set_aside_and_do_not_hold_back_the_rest(engine: AsyncEngine, tmp_path: Path) -> None:
    store = TelemetryStore(engine, spill_dir=tmp_path)
    for i in range(6):
        store.record_call(call(i, tenant_id=None) if i == 3 else call(i))  # NOT NULL violation
    await store.aclose()
    assert await call_ids(engine) == [f"call-{i:04d}" for i in (0, 1, 2, 4, 5)]
    assert (store.records_written, store.records_rejected, store.records_spilled) == (5, 1, 0)
    (line,) = store.rejected_path.read_text().splitlines()
    item = json.loads(line)
    assert item["type"] == "call" and item["record"]["call_id"] == "call-0003" and "NOT NULL" in item["error"]


async def test_replay_goes_batch_by_batch_and_sets_unreadable_lines_aside(engine: AsyncEngine, tmp_path: Path) -> None:
    writer = TelemetryStore(engine, spill_dir=tmp_path)
    writer.close_sync()
    for i in range(23):
        writer.record_call(call(i))  # closed: straight to the spill
    with writer.spill_path.open("a") as fh:
        fh.write('{"type": "call", "record": {"call_id": "x"}}\n')  # not a whole record
        fh.write('{"type": "call", "rec')  # torn by a crash
    store = TelemetryStore(engine, spill_dir=tmp_path, batch_size=10)
    sizes: list[int] = []
    real = store._insert_records

    async def spy(records: list) -> None:  # type: ignore[type-arg]
        sizes.append(len(records))
        await real(records)

    store._insert_records = spy  # type: ignore[method-assign]
    assert await store.replay_spill() == 23
    assert sizes == [10, 10, 3]
    assert len(await call_ids(engine)) == 23
    rejected = [json.loads(line) for line in store.rejected_path.read_text().splitlines()]
    assert [r["type"] for r in rejected] == ["unreadable", "unreadable"]
    assert list(tmp_path.glob("telemetry-spill*")) == []


async def test_replay_is_idempotent(engine: AsyncEngine, tmp_path: Path) -> None:
    store = TelemetryStore(engine, spill_dir=tmp_path)
    for i in range(5):
        store.record_call(call(i))
    await store.flush()
    store.close_sync()
    for i in range(3, 8):
        store.record_call(call(i))  # 3 and 4 are already in the database
    again = TelemetryStore(engine, spill_dir=tmp_path)
    await again.aclose()  # replays on close
    assert await call_ids(engine) == [f"call-{i:04d}" for i in range(8)]
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(LLMCallRow))).scalar_one() == 8


async def test_records_that_cannot_be_encoded_do_not_poison_a_replay(engine: AsyncEngine, tmp_path: Path) -> None:
    import datetime as dt

    offline = TelemetryStore(engine, spill_dir=tmp_path)
    offline.close_sync()
    for i in range(4):
        offline.record_call(call(i))
    bad_call = call(9)
    bad_call.cost_usd = None  # type: ignore[assignment]
    naive_run = WorkflowRunRecord(
        run_id="naive", tenant_id="acme", agent_id="support", workflow_name="w", started_at=dt.datetime(2026, 1, 1)
    )
    offline.record_call(bad_call)
    offline.record_run(naive_run)  # UtcDateTime refuses naive datetimes while binding
    offline.record_call(call(4))
    store = TelemetryStore(engine, spill_dir=tmp_path, batch_size=100)
    assert await store.replay_spill() == 5
    assert await call_ids(engine) == [f"call-{i:04d}" for i in range(5)]
    rejected = [json.loads(line) for line in store.rejected_path.read_text().splitlines()]
    assert [r["type"] for r in rejected] == ["unreadable", "run"]  # the None cost cannot even be read back
    assert '"call_id": "call-0009"' in rejected[0]["line"] and rejected[1]["record"]["run_id"] == "naive"
    assert "naive datetime" in rejected[1]["error"]
    assert not store.spill_path.exists() and store.records_rejected == 2

    # written directly (no spill in between), the bad call fails while being encoded
    store.record_call(bad_call)
    store.record_call(call(5))
    await store.aclose()
    assert await call_ids(engine) == [f"call-{i:04d}" for i in range(6)]
    last = json.loads(store.rejected_path.read_text().splitlines()[-1])
    assert (last["type"], last["record"]["call_id"], store.records_rejected) == ("call", "call-0009", 3)
    assert last["error"].startswith("TypeError") and store.records_spilled == 0


async def test_spill_files_are_written_off_the_event_loop(tmp_path: Path) -> None:
    import threading

    bare = make_async_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")  # every insert fails: an outage
    store = TelemetryStore(bare, spill_dir=tmp_path / "spill", max_buffer=2)
    writers: list[str] = []
    spill = store._spill

    def watched(records):  # type: ignore[no-untyped-def]
        writers.append(threading.current_thread().name)
        spill(records)

    store._spill = watched  # type: ignore[method-assign]
    for i in range(4):  # 2 buffered, 2 in the writer's overflow: record_call writes no file itself
        store.record_call(call(i))
    assert writers == [] and store.pending == 4
    await store.flush()
    assert store.records_spilled == 4 and store.pending == 0
    assert writers and threading.main_thread().name not in writers  # the overflow and the failed batch
    # the writer may already have moved the spill aside for a replay (which failed: no schema)
    files = sorted((tmp_path / "spill").glob("telemetry-spill.jsonl*"))
    lines = [line for f in files for line in f.read_text().splitlines()]
    assert sorted(json.loads(line)["record"]["call_id"] for line in lines) == [f"call-{i:04d}" for i in range(4)]
    store.close_sync()
    await bare.dispose()
