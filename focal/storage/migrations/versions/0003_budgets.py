"""budgets: tenant budgets and per-period spend with reservations

Revision ID: 0003_budgets
Revises: 0002_telemetry
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from focal.storage.tables import UtcDateTime

revision = "0003_budgets"
down_revision = "0002_telemetry"
branch_labels = None
depends_on = None



def upgrade() -> None:
    op.create_table(
        "tenant_budgets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("limit_nusd", sa.BigInteger(), nullable=False),
        sa.Column("on_limit", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_budgets"),
        sa.UniqueConstraint("tenant_id", "period", name="uq_tenant_budgets_key"),
    )
    op.create_index("ix_tenant_budgets_tenant_id", "tenant_budgets", ["tenant_id"])
    op.create_table(
        "budget_usage",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.String(10), nullable=False),
        sa.Column("spent_nusd", sa.BigInteger(), nullable=False),
        sa.Column("reserved_nusd", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budget_usage"),
        sa.UniqueConstraint("tenant_id", "period", "period_start", name="uq_budget_usage_key"),
    )


def downgrade() -> None:
    op.drop_table("budget_usage")
    op.drop_index("ix_tenant_budgets_tenant_id", "tenant_budgets")
    op.drop_table("tenant_budgets")
