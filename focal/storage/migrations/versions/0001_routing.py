"""routing: tenant model overrides and their change log

Revision ID: 0001_routing
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from focal.storage.tables import UtcDateTime

revision = "0001_routing"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_model_overrides",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("model_ref", sa.String(256), nullable=False),
        sa.Column("fallback_chain", sa.JSON(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_model_overrides"),
        sa.UniqueConstraint("tenant_id", "agent_id", "step", name="uq_tenant_model_overrides_key"),
    )
    op.create_index("ix_tenant_model_overrides_tenant_id", "tenant_model_overrides", ["tenant_id"])
    op.create_table(
        "tenant_model_override_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("model_ref", sa.String(256), nullable=True),
        sa.Column("fallback_chain", sa.JSON(), nullable=True),
        sa.Column("previous_model_ref", sa.String(256), nullable=True),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_model_override_changes"),
    )
    op.create_index(
        "ix_tenant_model_override_changes_tenant_id", "tenant_model_override_changes", ["tenant_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_tenant_model_override_changes_tenant_id", "tenant_model_override_changes")
    op.drop_table("tenant_model_override_changes")
    op.drop_index("ix_tenant_model_overrides_tenant_id", "tenant_model_overrides")
    op.drop_table("tenant_model_overrides")
