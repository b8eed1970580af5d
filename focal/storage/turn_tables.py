"""ORM table of alignment turns: one audit record per (tenant, session, turn), with summary columns to list by.

The whole `TurnRecord` is kept in `record` (JSON); the other columns repeat what listing and joining need.
`run_id` joins a turn to its `workflow_runs` row and its `llm_calls`. Money is stored as integer
nano-dollars (`*_nusd`), as in the telemetry tables: exact on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from focal.storage.tables import Base, UtcDateTime

__all__ = ["AlignmentTurnRow", "SessionLeaseRow"]


class AlignmentTurnRow(Base):
    """One alignment turn (see `focal.alignment.TurnRecord`); never changed once written."""

    __tablename__ = "alignment_turns"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "session_id", "turn_number", name="pk_alignment_turns"),
        UniqueConstraint("tenant_id", "turn_id", name="uq_alignment_turns_turn_id"),
        Index("ix_alignment_turns_tenant_created", "tenant_id", "created_at"),
        Index("ix_alignment_turns_tenant_agent", "tenant_id", "agent_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(512))
    turn_number: Mapped[int] = mapped_column(Integer)
    turn_id: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    config_version: Mapped[str] = mapped_column(String(32))
    reply: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    """The enforcement status: passed | regenerated | fallback | not_checked."""
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The whole `TurnRecord`, `model_dump(mode="json")`."""


class SessionLeaseRow(Base):
    """A session held by one turn (of any process) until `expires_at`; deleted when the turn ends."""

    __tablename__ = "session_leases"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "session_id", name="pk_session_leases"),)

    tenant_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(512))
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
