"""session leases: one turn at a time per session across processes

Revision ID: 0012_session_leases
Revises: 0011_alignment_turns
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from focal.storage.tables import UtcDateTime

revision = "0012_session_leases"
down_revision = "0011_alignment_turns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_leases",
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(512), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "session_id", name="pk_session_leases"),
    )


def downgrade() -> None:
    op.drop_table("session_leases")
