"""Telemetry write throughput (records/s) to SQLite and PostgreSQL, end to end through TelemetryStore.

Baseline, measured in the same run: one plain SQLAlchemy executemany INSERT of the same rows in a
single transaction (no batching logic, no conflict handling). Goal: >= 20k records/s on SQLite.

    python -m benchmarks telemetry_writes [--records N] [--postgres-url URL] [--quick] [--json FILE]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

import focal  # noqa: F401
from benchmarks._report import Goal, Metric, measured, skipped
from benchmarks._runner import DEFAULT_PG, Options, cli_parser, main_one
from focal.storage import LLMCallRow, make_async_engine, make_sync_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryStore
from focal.telemetry._rows import call_to_row


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


def measure(records: int = 50_000, postgres_url: str | None = DEFAULT_PG) -> dict[str, Any]:
    """Measure and print; returns {backend: {"store": rec/s, "baseline": rec/s} or why it was skipped}."""
    print(f"telemetry writes ({records:,} records each; store timing includes enqueue + flush)")
    results: dict[str, Any] = {"records": records}
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
            results["postgresql"] = f"skipped: PostgreSQL unreachable: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            print(f"  postgresql {results['postgresql']}")
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
    else:
        results["postgresql"] = "skipped: no PostgreSQL URL given"
    return results


def metrics(figures: dict[str, Any]) -> list[Metric]:
    """The table's rows from `measure`'s figures."""
    rows = []
    for backend, goal in (("sqlite", Goal(op=">=", threshold=20_000)), ("postgresql", None)):
        name = f"write throughput {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}"
        found = figures[backend]
        if isinstance(found, str):
            rows.append(skipped("telemetry_writes", name, found, unit="records/s", goal=goal))
            continue
        rows.append(
            measured(
                "telemetry_writes",
                name,
                unit="records/s",
                focal=found["store"],
                baseline=found["baseline"],
                baseline_name="one plain executemany INSERT of the same rows in one transaction, same run",
                goal=goal,
                includes=(
                    f"TelemetryStore.record_call of {figures['records']:,} LLM call records then flush (enqueue, "
                    "batching, conflict handling, inserts), fresh database"
                ),
            )
        )
    return rows


def run(options: Options, *, records: int | None = None) -> list[Metric]:
    """Measure (5,000 records with `options.quick`) and return the metrics."""
    return metrics(measure(records or (5_000 if options.quick else 50_000), options.postgres_url))


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("telemetry_writes", __doc__, postgres=True)
    parser.add_argument("--records", type=int, default=None, help="default 50,000 (5,000 with --quick)")
    args = parser.parse_args(argv)
    main_one("telemetry_writes", lambda options: run(options, records=args.records), args)


if __name__ == "__main__":
    main()
