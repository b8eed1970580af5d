"""ORM tables of telemetry: LLM call attempts, workflow runs, and the daily aggregates of each kept after purges.

Money is stored as integer nano-dollars (`*_nusd`): exact sums on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from focal.storage.tables import Base, UtcDateTime

__all__ = ["LLMCallRow", "TelemetryDailyAggregate", "WorkflowRunDailyAggregate", "WorkflowRunRow"]


class LLMCallRow(Base):
    """One LLM call attempt (see `focal.telemetry.LLMCallRecord`)."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        Index("ix_llm_calls_tenant_created", "tenant_id", "created_at"),
        Index("ix_llm_calls_created_at", "created_at"),
        Index("ix_llm_calls_run_id", "run_id"),
        Index("ix_llm_calls_call_id", "call_id"),
    )

    attempt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    """Shared by the attempts (retries, fallback hops) of one call."""
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tenant_id: Mapped[str] = mapped_column(String(128))
    agent_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    workflow_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    step_name: Mapped[str] = mapped_column(String(64))
    task_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[str] = mapped_column(String(128))
    resolution_source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolution_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    premium_cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt_number: Mapped[int] = mapped_column(Integer, default=1)
    fallback_hop: Mapped[int] = mapped_column(Integer, default=0)
    fallback_cause: Mapped[str | None] = mapped_column(String(64), nullable=True)
    breaker_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    streamed: Mapped[bool] = mapped_column(Boolean, default=False)
    finish_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)


class WorkflowRunRow(Base):
    """One workflow run (see `focal.telemetry.WorkflowRunRecord`)."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "run_id", name="pk_workflow_runs"),  # run ids are the host's
        Index("ix_workflow_runs_tenant_started", "tenant_id", "started_at"),
        Index("ix_workflow_runs_started_at", "started_at"),
    )

    run_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(String(128))
    agent_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    workflow_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    steps: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    call_count: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    premium_cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    fallback_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)


class TelemetryDailyAggregate(Base):
    """Per-day totals of purged call rows, by every dimension the analytics group on."""

    __tablename__ = "telemetry_daily_aggregates"
    __table_args__ = (
        UniqueConstraint(
            "day",
            "tenant_id",
            "agent_id",
            "step_name",
            "provider",
            "tier",
            "model_id",
            "task_type",
            "status",
            name="uq_telemetry_daily_aggregates_key",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10))
    tenant_id: Mapped[str] = mapped_column(String(128))
    agent_id: Mapped[str] = mapped_column(String(128))
    step_name: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[str] = mapped_column(String(128))
    task_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    premium_cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    fallback_calls: Mapped[int] = mapped_column(BigInteger, default=0)


class WorkflowRunDailyAggregate(Base):
    """Per-day totals of purged workflow runs (day of `started_at`, UTC), by tenant, agent, workflow, status."""

    __tablename__ = "workflow_run_daily_aggregates"
    __table_args__ = (
        UniqueConstraint(
            "day", "tenant_id", "agent_id", "workflow_name", "status", name="uq_workflow_run_daily_aggregates_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10))
    tenant_id: Mapped[str] = mapped_column(String(128))
    agent_id: Mapped[str] = mapped_column(String(128))
    workflow_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    call_count: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    premium_cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    max_cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    """The most one run of the group cost (a fold keeps the larger of the stored and the folded maximum)."""
    fallback_count: Mapped[int] = mapped_column(BigInteger, default=0)
    ended_runs: Mapped[int] = mapped_column(BigInteger, default=0)
    """Runs with an `ended_at`: the ones `duration_ms_sum` covers."""
    duration_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
