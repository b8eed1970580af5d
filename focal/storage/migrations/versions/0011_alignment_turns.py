"""alignment turns: one audit record per (tenant, session, turn), joined to its workflow run by run id

Revision ID: 0011_alignment_turns
Revises: 0010_demo_tools
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from focal.storage.tables import UtcDateTime

revision = "0011_alignment_turns"
down_revision = "0010_demo_tools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alignment_turns",
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(512), nullable=False),
        sa.Column("turn_number", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("config_version", sa.String(32), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "session_id", "turn_number", name="pk_alignment_turns"),
        sa.UniqueConstraint("tenant_id", "turn_id", name="uq_alignment_turns_turn_id"),
    )
    op.create_index("ix_alignment_turns_tenant_created", "alignment_turns", ["tenant_id", "created_at"])
    op.create_index("ix_alignment_turns_tenant_agent", "alignment_turns", ["tenant_id", "agent_id"])


def downgrade() -> None:
    op.drop_index("ix_alignment_turns_tenant_agent", table_name="alignment_turns")
    op.drop_index("ix_alignment_turns_tenant_created", table_name="alignment_turns")
    op.drop_table("alignment_turns")
