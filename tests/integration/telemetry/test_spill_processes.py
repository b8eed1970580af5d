"""One spill directory shared by several processes: writers append while others replay, and every
record reaches the database exactly once (nothing lost, nothing replayed twice)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import multiprocessing
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, func, select

from focal.storage import LLMCallRow, make_async_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryStore

WRITERS = 3
REPLAYERS = 2
RECORDS = 400
"""Per writer, spilled in batches of 1 to 40 records (a large batch takes several writes)."""


def _record(attempt_id: str) -> LLMCallRecord:
    return LLMCallRecord(
        attempt_id=attempt_id,
        tenant_id="acme",
        agent_id="support",
        step_name="generation",
        provider="openai",
        tier="cheap",
        model_id="gpt-4o-mini",
        cost_usd=Decimal("0.001"),
        metadata={"padding": "x" * 1000},
    )


def _write(database_url: str, spill_dir: str, writer: int) -> None:
    """A process recording without an event loop: `close_sync` appends each batch to the shared spill."""
    engine = make_async_engine(database_url)
    ids = [f"w{writer}-{i:05d}" for i in range(RECORDS)]
    start, size = 0, 1
    while start < RECORDS:
        store = TelemetryStore(engine, spill_dir=spill_dir)
        for attempt_id in ids[start : start + size]:
            store.record_call(_record(attempt_id))
        store.close_sync()
        start, size = start + size, size % 40 + 1


def _replay(
    database_url: str, spill_dir: str, stop: multiprocessing.synchronize.Event, out: multiprocessing.Queue
) -> None:  # type: ignore[name-defined]
    """A process replaying the shared spill over and over until told to stop; reports how many it replayed."""

    async def main() -> int:
        engine = make_async_engine(database_url)
        store = TelemetryStore(engine, spill_dir=spill_dir, batch_size=7)
        while not stop.is_set():
            await store.replay_spill()
            await asyncio.sleep(0.001)
        await store.replay_spill()
        await engine.dispose()
        return store.records_replayed

    out.put(asyncio.run(main()))


def test_processes_sharing_a_spill_lose_and_duplicate_nothing(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    spill_dir = tmp_path / "spill"
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    replayers = [ctx.Process(target=_replay, args=(database_url, str(spill_dir), stop, out)) for _ in range(REPLAYERS)]
    writers = [ctx.Process(target=_write, args=(database_url, str(spill_dir), w)) for w in range(WRITERS)]
    for p in replayers + writers:
        p.start()
    for p in writers:
        p.join(timeout=120)
    stop.set()
    replayed = [out.get(timeout=120) for _ in replayers]
    for p in replayers:
        p.join(timeout=60)
    assert [p.exitcode for p in writers + replayers] == [0] * (WRITERS + REPLAYERS)

    async def last_replay() -> int:  # whatever was spilled after the replayers' last look
        engine = make_async_engine(database_url)
        store = TelemetryStore(engine, spill_dir=spill_dir)
        count = await store.replay_spill()
        await engine.dispose()
        return count

    replayed.append(asyncio.run(last_replay()))
    sync = create_engine(database_url)
    with sync.connect() as conn:
        stored = conn.execute(select(func.count(), func.count(func.distinct(LLMCallRow.attempt_id)))).one()
    sync.dispose()
    total = WRITERS * RECORDS
    rejected = spill_dir / "telemetry-rejected.jsonl"
    assert not rejected.exists(), [json.loads(line)["error"] for line in rejected.read_text().splitlines()[:3]]
    assert tuple(stored) == (total, total)  # nothing lost
    assert sum(replayed) == total  # nothing replayed twice
    assert list(spill_dir.glob("telemetry-spill*")) == []


async def test_a_replay_waits_for_a_write_in_progress(database_url: str, tmp_path: Path) -> None:
    """Another process is halfway through appending a batch when the spill is replayed: the replay
    reads the file only once that batch is whole."""
    upgrade(database_url)
    engine = make_async_engine(database_url)
    writer = TelemetryStore(engine, spill_dir=tmp_path)
    writer.close_sync()
    for i in range(3):
        writer.record_call(_record(f"early-{i}"))
    line = json.dumps({"type": "call", "record": _record("late").to_json_dict()}) + "\n"
    with writer.spill_path.open("a", encoding="utf-8") as other:  # the other process's handle
        fcntl.flock(other, fcntl.LOCK_EX)
        other.write(line[:100])
        other.flush()
        replay = asyncio.create_task(TelemetryStore(engine, spill_dir=tmp_path).replay_spill())
        await asyncio.sleep(0.3)
        assert not replay.done()
        other.write(line[100:])
    assert await replay == 4
    async with engine.connect() as conn:
        ids = set((await conn.execute(select(LLMCallRow.attempt_id))).scalars())
    await engine.dispose()
    assert ids == {"early-0", "early-1", "early-2", "late"}
    assert not (tmp_path / "telemetry-rejected.jsonl").exists()


async def test_a_line_torn_by_a_dead_writer_does_not_swallow_the_next_record(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    engine = make_async_engine(database_url)
    store = TelemetryStore(engine, spill_dir=tmp_path)
    store.close_sync()
    line = json.dumps({"type": "call", "record": _record("torn").to_json_dict()})
    tmp_path.joinpath("telemetry-spill.jsonl").write_text(line[:100])  # a writer killed mid-line
    store.record_call(_record("next"))  # spilled after the torn line, on a line of its own
    assert await TelemetryStore(engine, spill_dir=tmp_path).replay_spill() == 1
    async with engine.connect() as conn:
        ids = set((await conn.execute(select(LLMCallRow.attempt_id))).scalars())
    await engine.dispose()
    assert ids == {"next"}
    (rejected,) = (tmp_path / "telemetry-rejected.jsonl").read_text().splitlines()
    assert json.loads(rejected)["line"] == line[:100]  # the torn half is set aside, alone
