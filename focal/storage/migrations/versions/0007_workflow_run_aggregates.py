"""workflow run daily aggregates: a retention purge folds the workflow runs it deletes into them

Until now a purge kept daily aggregates of the call rows it deleted but none of the runs: run-level
history (runs per workflow, their cost, fallbacks, errors) was lost. Runs purged before this
revision are not recoverable; their cost is still in `telemetry_daily_aggregates`.

Revision ID: 0007_workflow_run_aggregates
Revises: 0006_cache_write_tokens
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_workflow_run_aggregates"
down_revision = "0006_cache_write_tokens"
branch_labels = None
depends_on = None

_SUMS = (
    "runs",
    "call_count",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_nusd",
    "premium_cost_nusd",
    "max_cost_nusd",
    "fallback_count",
    "ended_runs",
)


def upgrade() -> None:
    op.create_table(
        "workflow_run_daily_aggregates",
        sa.Column("id", sa.Integer(), nullable=False, primary_key=True, autoincrement=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("workflow_name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _SUMS),
        sa.Column("duration_ms_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_run_daily_aggregates"),
        sa.UniqueConstraint(
            "day", "tenant_id", "agent_id", "workflow_name", "status", name="uq_workflow_run_daily_aggregates_key"
        ),
    )


def downgrade() -> None:
    op.drop_table("workflow_run_daily_aggregates")
