"""Migration 0002_telemetry: upgrade from 0001, re-runs are no-ops, and it matches the ORM tables."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from focal.storage import Base, head_revision, make_sync_engine, upgrade

TELEMETRY_TABLES = {"llm_calls", "workflow_runs", "telemetry_daily_aggregates", "workflow_run_daily_aggregates"}


def _tables_in(diff: Any) -> set[str]:
    """Table names an autogenerate diff entry touches (entries are tuples, or lists of tuples)."""
    items = diff if isinstance(diff, list) else [diff]
    names = set()
    for item in items:
        for part in item:
            table = getattr(part, "table", None)
            name = getattr(table, "name", None) or getattr(part, "name", None)
            if isinstance(part, str) and part in TELEMETRY_TABLES:
                name = part
            if isinstance(name, str):
                names.add(name)
    return names


def test_upgrade_from_0001_then_again(database_url: str) -> None:
    assert upgrade(database_url, "0001_routing") == (None, "0001_routing")
    assert upgrade(database_url, "0002_telemetry") == ("0001_routing", "0002_telemetry")
    engine = make_sync_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables >= TELEMETRY_TABLES - {"workflow_run_daily_aggregates"}  # added by 0007
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("llm_calls")}
        assert indexes == {
            "ix_llm_calls_run_id": ["run_id"],
            "ix_llm_calls_tenant_created": ["tenant_id", "created_at"],
            "ix_llm_calls_created_at": ["created_at"],
        }
        uniques = inspect(engine).get_unique_constraints("telemetry_daily_aggregates")
        assert [u["column_names"] for u in uniques] == [
            ["day", "tenant_id", "agent_id", "step_name", "provider", "tier", "model_id", "task_type", "status"]
        ]
    finally:
        engine.dispose()
    head = head_revision()
    assert upgrade(database_url) == ("0002_telemetry", head)
    assert upgrade(database_url) == (head, head)  # a second run is a no-op


def test_migration_matches_the_orm_tables(database_url: str) -> None:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = [d for d in compare_metadata(ctx, Base.metadata) if _tables_in(d) & TELEMETRY_TABLES]
    finally:
        engine.dispose()
    assert diffs == []


def test_0004_keeps_existing_calls_each_its_own_call(database_url: str) -> None:
    """Before 0004 each attempt had its own call id: it becomes the attempt id, and the call id stays."""
    from sqlalchemy import text

    upgrade(database_url, "0003_budgets")
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO llm_calls (call_id, tenant_id, agent_id, step_name, provider, tier, model_id, "
                    "input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, total_tokens, cost_nusd, "
                    "premium_cost_nusd, latency_ms, status, attempt_number, fallback_hop, streamed, created_at) "
                    "VALUES ('old-1', 'acme', 'support', 'generation', 'openai', 'cheap', 'm', 1, 2, 0, 0, 3, 5, 9, "
                    "1.5, 'success', 1, 0, false, '2026-11-30 10:00:00.000000')"
                )
            )
        assert upgrade(database_url) == ("0003_budgets", head_revision())
        with engine.connect() as conn:
            row = conn.execute(text("SELECT attempt_id, call_id, cost_nusd FROM llm_calls")).one()
        assert tuple(row) == ("old-1", "old-1", 5)
        pk = inspect(engine).get_pk_constraint("llm_calls")
        assert pk["constrained_columns"] == ["attempt_id"]
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("llm_calls")}
        assert indexes["ix_llm_calls_call_id"] == ["call_id"]
    finally:
        engine.dispose()
