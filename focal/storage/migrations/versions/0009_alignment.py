"""alignment: versioned agent configurations per tenant and the version each serves

Revision ID: 0009_alignment
Revises: 0008_runs_per_tenant
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from focal.storage.tables import UtcDateTime

revision = "0009_alignment"
down_revision = "0008_runs_per_tenant"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alignment_versions",
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("rule_count", sa.Integer(), nullable=False),
        sa.Column("scenario_count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id", "version", name="pk_alignment_versions"),
    )
    op.create_table(
        "alignment_current",
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("published_by", sa.String(128), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id", name="pk_alignment_current"),
    )


def downgrade() -> None:
    op.drop_table("alignment_current")
    op.drop_table("alignment_versions")
