"""Telemetry write throughput (records/s) to SQLite and PostgreSQL, end to end through TelemetryStore.

Baseline, measured in the same run: one plain SQLAlchemy executemany INSERT of the same rows in a
single transaction (no batching logic, no conflict handling). Goal: >= 20k records/s on SQLite.

    python -m benchmarks telemetry_writes [--records N] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, text

import focal  # noqa: F401
from focal.storage import LLMCallRow, make_async_engine, make_sync_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryStore
from focal.telemetry._rows import call_to_row

DEFAULT_PG = os.environ.get("FOCAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _records(n: int) -> list[LLMCallRecord]:
    return [
        LLMCallRecord(
            tenant_id=f"tenant-{i % 50}",
            agent_id="support",
            step_name="generation",
            task_type="response_generation",
            provider="openai",
            tier="cheap",
            model_id="gpt-4o-mini",
            input_tokens=1200,
            output_tokens=150,
            total_tokens=1350,
            cost_usd=Decimal("0.00027"),
            premium_cost_usd=Decimal("0.027"),
            latency_ms=420.0,
            resolution_source="agent_catalog",
        )
        for i in range(n)
    ]


async def _store_rate(url: str, n: int, spill: Path) -> float:
    engine = make_async_engine(url)
    store = TelemetryStore(engine, spill_dir=spill, batch_size=5000)
    records = _records(n)
    t0 = time.perf_counter()
    for r in records:
        store.record_call(r)
    await store.flush()
    elapsed = time.perf_counter() - t0
    assert store.records_written == n and store.records_spilled == 0
    await store.aclose()
    await engine.dispose()
    return n / elapsed


def _baseline_rate(url: str, n: int) -> float:
    engine = make_sync_engine(url)
    rows = [call_to_row(r) for r in _records(n)]
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(LLMCallRow), rows)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return n / elapsed


def _measure(label: str, url: str, n: int) -> dict[str, float]:
    upgrade(url)
    with tempfile.TemporaryDirectory() as spill:
        focal_rate = asyncio.run(_store_rate(url, n, Path(spill)))
    base = _baseline_rate(url, n)
    print(
        f"  {label:10s} TelemetryStore {focal_rate:10,.0f} rec/s   plain executemany {base:10,.0f} rec/s   "
        f"ratio {focal_rate / base:.2f}"
    )
    return {"store": focal_rate, "baseline": base}


def run(records: int = 50_000, postgres_url: str | None = DEFAULT_PG) -> dict[str, dict[str, float]]:
    print(f"telemetry writes ({records:,} records each; store timing includes enqueue + flush)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = _measure("sqlite", f"sqlite:///{tmp}/bench.db", records)
    goal = results["sqlite"]["store"] >= 20_000
    print(f"  goal >= 20,000 rec/s on SQLite: {'met' if goal else 'NOT met'}")
    if postgres_url:
        name = f"focal_bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            print(f"  postgresql skipped: {str(exc).splitlines()[0]}")
            return results
        try:
            from sqlalchemy.engine import make_url

            results["postgresql"] = _measure(
                "postgresql", make_url(postgres_url).set(database=name).render_as_string(hide_password=False), records
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks telemetry_writes", description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--postgres-url", default=DEFAULT_PG, help="admin URL; empty to skip PostgreSQL")
    args = parser.parse_args(argv)
    run(args.records, args.postgres_url or None)


if __name__ == "__main__":
    main()
