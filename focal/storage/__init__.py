"""Storage: engines and sessions over one URL, ORM tables, Alembic migrations, Agno's db."""

from focal.storage._agno import create_agno_db
from focal.storage._engines import (
    make_async_engine,
    make_async_session_factory,
    make_session_factory,
    make_sync_engine,
)
from focal.storage._migrate import current_revision, head_revision, require_schema, upgrade
from focal.storage._units import UnitRunner
from focal.storage._urls import async_url, backend, sync_url
from focal.storage.alignment_tables import AlignmentCurrent, AlignmentVersion
from focal.storage.budget_tables import BudgetReservation, BudgetUsage, TenantBudget
from focal.storage.demo_tables import DemoCustomer, DemoOrder, DemoRefund
from focal.storage.tables import Base, TenantModelOverride, TenantModelOverrideChange, utcnow
from focal.storage.telemetry_tables import (
    LLMCallRow,
    TelemetryDailyAggregate,
    WorkflowRunDailyAggregate,
    WorkflowRunRow,
)
from focal.storage.turn_tables import AlignmentTurnRow, SessionLeaseRow

__all__ = [
    "AlignmentCurrent",
    "AlignmentTurnRow",
    "AlignmentVersion",
    "Base",
    "BudgetReservation",
    "BudgetUsage",
    "DemoCustomer",
    "DemoOrder",
    "DemoRefund",
    "LLMCallRow",
    "SessionLeaseRow",
    "TelemetryDailyAggregate",
    "TenantBudget",
    "TenantModelOverride",
    "TenantModelOverrideChange",
    "UnitRunner",
    "WorkflowRunDailyAggregate",
    "WorkflowRunRow",
    "async_url",
    "backend",
    "create_agno_db",
    "current_revision",
    "head_revision",
    "make_async_engine",
    "make_async_session_factory",
    "make_session_factory",
    "make_sync_engine",
    "require_schema",
    "sync_url",
    "upgrade",
    "utcnow",
]
