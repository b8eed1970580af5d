"""A spill replay that failed midway, a purge, then the replay again: what the first attempt inserted
(and the purge folded into the daily aggregates) is not inserted, nor counted, a second time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

from focal.storage import make_async_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryAnalytics, TelemetryStore, purge

OLD = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)


def old_call(i: int) -> LLMCallRecord:
    return LLMCallRecord(
        attempt_id=f"old-{i:02d}",
        tenant_id="acme",
        agent_id="support",
        step_name="generation",
        provider="openai",
        tier="cheap",
        model_id="gpt-4o-mini",
        cost_usd=Decimal("0.001"),
        created_at=OLD + dt.timedelta(seconds=i),
    )


async def test_a_resumed_replay_skips_what_was_inserted_and_purged(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    engine = make_async_engine(database_url)
    offline = TelemetryStore(engine, spill_dir=tmp_path)
    offline.close_sync()
    for i in range(10):
        offline.record_call(old_call(i))  # spilled while the database was away

    inserts = 0

    def connection_lost_on_second_batch(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        nonlocal inserts
        if statement.startswith("INSERT INTO llm_calls"):
            inserts += 1
            if inserts == 2:
                raise ConnectionResetError("connection lost")

    event.listen(engine.sync_engine, "before_cursor_execute", connection_lost_on_second_batch)
    first = TelemetryStore(engine, spill_dir=tmp_path, batch_size=4)
    assert await first.replay_spill() == 0  # the first batch of 4 went in, then the database went away
    assert len(list(tmp_path.glob("telemetry-spill.jsonl.replaying-*"))) == 1
    event.remove(engine.sync_engine, "before_cursor_execute", connection_lost_on_second_batch)

    sync = create_engine(database_url)
    try:
        purged = purge(sync, days=30, apply=True)  # folds the 4 inserted rows into the daily aggregates
        assert purged[0]["rows"] == 4
        again = TelemetryStore(engine, spill_dir=tmp_path, batch_size=4)
        assert await again.replay_spill() == 6
        assert list(tmp_path.glob("telemetry-spill*")) == []
        (row,) = TelemetryAnalytics(sync).cost_by("tenant")
        assert (row["calls"], row["cost_usd"]) == (10, pytest.approx(Decimal("0.010")))
    finally:
        sync.dispose()
        await engine.dispose()
