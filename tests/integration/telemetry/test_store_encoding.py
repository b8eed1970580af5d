"""TelemetryStore: records SQLite would store and PostgreSQL would refuse (or its driver could not
encode) are stored alike on both, and an encoding error is a refused record, never an outage."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select

from focal.storage import LLMCallRow, WorkflowRunRow, make_async_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryAnalytics, TelemetryStore, WorkflowRunRecord

HOST_METADATA = {"budget": Decimal("1.5"), "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "req": uuid.UUID(int=1)}
"""Values host code commonly puts in metadata, none of them JSON."""
AS_JSON = {"budget": "1.5", "at": "2026-01-01 00:00:00+00:00", "req": "00000000-0000-0000-0000-000000000001"}


def call(**fields: Any) -> LLMCallRecord:
    base: dict[str, Any] = {
        "tenant_id": "acme",
        "agent_id": "support",
        "step_name": "generation",
        "provider": "openai",
        "tier": "cheap",
        "model_id": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": Decimal("0.01"),
    }
    return LLMCallRecord(**(base | fields))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    upgrade(database_url)
    eng = make_async_engine(database_url)
    yield eng
    await eng.dispose()


async def rows(engine, table) -> list:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return list((await conn.execute(select(table))).all())


async def test_metadata_of_any_type_is_stored_as_json(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path)
    recorded = call(metadata=HOST_METADATA | {"nested": [Decimal("2"), {3: float("nan")}], "text": "a\x00b"})
    store.record_call(recorded)
    store.record_run(
        WorkflowRunRecord(tenant_id="acme", agent_id="a", workflow_name="w", call_count=1, metadata=HOST_METADATA)
    )
    await store.aclose()
    assert (store.records_written, store.records_rejected, store.records_spilled) == (2, 0, 0)
    (stored_call,) = await rows(engine, LLMCallRow)
    assert stored_call._mapping["metadata"] == AS_JSON | {"nested": ["2", {"3": "nan"}], "text": "ab"}
    (stored_run,) = await rows(engine, WorkflowRunRow)
    assert stored_run._mapping["metadata"] == AS_JSON
    assert recorded.metadata["budget"] == Decimal("1.5")  # the record itself is left as it was


async def test_an_encoding_error_refuses_the_record_and_is_no_outage(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A driver raising TypeError / ValueError while encoding a record (as psycopg does for a value it
    cannot adapt) sets that record aside; the rest are written and the database is not "down"."""

    def encode(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        params = parameters if executemany else [parameters]
        for row in params:
            if "poison" in row:
                raise TypeError("Object of type Poison is not JSON serializable")
            if "bad-value" in row:
                raise ValueError("cannot encode")

    event.listen(engine.sync_engine, "before_cursor_execute", encode)
    store = TelemetryStore(engine, spill_dir=tmp_path, batch_size=100, replay_interval=3600)
    records = [call(tenant_id="poison" if i == 2 else "bad-value" if i == 4 else "acme") for i in range(6)]
    for r in records:
        store.record_call(r)
    await store.flush()
    assert (store.records_written, store.records_rejected, store.records_spilled) == (4, 2, 0)
    assert not store.spill_path.exists()
    rejected = [json.loads(line) for line in store.rejected_path.read_text().splitlines()]
    assert [r["record"]["call_id"] for r in rejected] == [records[2].call_id, records[4].call_id]
    assert rejected[0]["error"].startswith("Object of type Poison")

    later = call()
    store.record_call(later)
    await store.aclose()
    assert store.records_written == 5 and store.records_spilled == 0
    ids = {row.call_id for row in await rows(engine, LLMCallRow)}
    assert ids == {r.call_id for i, r in enumerate(records) if i not in (2, 4)} | {later.call_id}


async def test_both_databases_store_the_same_rows(database_url: str, engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Values PostgreSQL would refuse (longer than the column, NUL bytes, lone surrogates) are made to
    fit: every record is stored, and its cost counts, on SQLite and PostgreSQL alike."""
    shared = "tenant-" + "t" * 200
    tenant_a, tenant_b = shared + "-a", shared + "-b"  # distinct, with the same first 128 characters
    records = [
        call(tenant_id=tenant_a, session_id="acme:" + "u" * 300),
        call(tenant_id=tenant_b, status="error", error_message="bad byte \x00 in body", finish_reason="f" * 50),
        call(error_message="lone \ud800 surrogate", request_id="r\x00" * 100, model_id="m" * 300),
        call(step_name="s" * 100, run_id="run-" + "x" * 100, resolution_reason="r" * 10_000),
    ]
    run = WorkflowRunRecord(
        run_id="run-" + "x" * 100,
        tenant_id=tenant_a,
        agent_id="a" * 200,
        session_id="s" * 300,
        workflow_name="w" * 200,
        steps=["s" * 100, "nul\x00step"],
        error="failed \x00 here",
    )
    store = TelemetryStore(engine, spill_dir=tmp_path)
    for r in records:
        store.record_call(r)
    store.record_run(run)
    await store.aclose()
    assert (store.records_written, store.records_rejected, store.records_spilled) == (5, 0, 0)

    stored = {row.call_id: row for row in await rows(engine, LLMCallRow)}
    assert set(stored) == {r.call_id for r in records}
    first, second, third, fourth = (stored[r.call_id] for r in records)
    assert first.tenant_id != second.tenant_id and {len(first.tenant_id), len(second.tenant_id)} == {128}
    assert first.tenant_id.startswith(shared[:100]) and len(first.session_id) == 256
    assert second.error_message == "bad byte  in body" and second.finish_reason == "f" * 32
    assert third.error_message == "lone ? surrogate"  # free text: cleaned plainly
    assert third.request_id.startswith("r" * 100 + "~")  # an identifier: cleaned, marked by its hash
    assert fourth.resolution_reason == "r" * 10_000  # unbounded text is kept whole
    (stored_run,) = await rows(engine, WorkflowRunRow)
    assert stored_run.run_id == fourth.run_id and len(stored_run.run_id) == 64
    assert stored_run.steps[0] == fourth.step_name and stored_run.steps[1].startswith("nulstep~")
    assert stored_run.error == "failed  here"
    assert (len(stored_run.agent_id), len(stored_run.workflow_name), len(stored_run.session_id)) == (128, 128, 256)

    sync = create_engine(database_url)
    try:
        analytics = TelemetryAnalytics(sync)
        costs = {r["tenant"]: r["cost_usd"] for r in analytics.cost_by("tenant")}
        assert sorted(costs.values()) == [Decimal("0.01"), Decimal("0.01"), Decimal("0.02")]
        # looked up by the id the host knows, a long tenant finds its own rows
        assert [c.call_id for c in analytics.calls(tenant=tenant_b)] == [records[1].call_id]
        assert [r.run_id for r in analytics.runs(tenant=tenant_a)] == [stored_run.run_id]
    finally:
        sync.dispose()


TUPLE_KEYED = {("region", "eu"): 1}
"""Metadata `json.dumps(default=str)` cannot write (`default` never applies to keys)."""


async def test_a_refused_record_with_odd_metadata_is_set_aside_and_the_rest_written(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path)
    store.record_call(call(agent_id=None, metadata=TUPLE_KEYED))  # the database refuses it (NOT NULL)
    for i in range(20):
        store.record_call(call(request_id=f"r{i}"))
    await store.aclose()
    assert len(await rows(engine, LLMCallRow)) == 20 and store.pending == 0
    (rejected,) = [json.loads(line) for line in store.rejected_path.read_text().splitlines()]
    assert rejected["record"]["metadata"] == {"('region', 'eu')": 1}


async def test_odd_metadata_spills_and_replays_whole(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    down = make_async_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")  # cannot be opened: an outage
    store = TelemetryStore(down, spill_dir=tmp_path)
    store.record_call(call(metadata=TUPLE_KEYED, request_id="odd"))
    store.record_call(call(request_id="plain"))
    await store.aclose()
    await down.dispose()
    assert store.records_spilled == 2
    replayer = TelemetryStore(engine, spill_dir=tmp_path)
    assert await replayer.replay_spill() == 2
    await replayer.aclose()
    stored = {r.request_id: r.metadata for r in await rows(engine, LLMCallRow)}
    assert stored == {"odd": {"('region', 'eu')": 1}, "plain": None}


async def test_identifiers_cleaned_to_fit_never_merge_with_another(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = TelemetryStore(engine, spill_dir=tmp_path)
    store.record_call(call(session_id="s\x001"))
    store.record_call(call(session_id="s1"))
    await store.aclose()
    sessions = sorted(r.session_id for r in await rows(engine, LLMCallRow))
    assert len(set(sessions)) == 2 and "s1" in sessions
    assert next(s for s in sessions if s != "s1").startswith("s1~")  # cleaned, and marked by its hash
