"""Alignment configurations: one immutable document per (tenant, agent, version), and the version each
(tenant, agent) serves now.

One document per version, not a table per kind of item: a turn needs the whole configuration at once,
so a load is one primary-key read of one row; the per-turn indexes (rules by scope, steps by id,
compiled expressions) are built in memory once per version and cached (`focal.alignment.store`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from focal.storage.tables import Base, UtcDateTime, utcnow

__all__ = ["AlignmentCurrent", "AlignmentVersion"]


class AlignmentVersion(Base):
    """One version of an agent's configuration for a tenant; never changed once written."""

    __tablename__ = "alignment_versions"

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    rule_count: Mapped[int] = mapped_column(Integer)
    scenario_count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(1024))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AlignmentCurrent(Base):
    """The version a (tenant, agent) serves; `generation` counts publications (a new one each time)."""

    __tablename__ = "alignment_current"

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    generation: Mapped[int] = mapped_column(Integer)
    published_by: Mapped[str] = mapped_column(String(128))
    published_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
