"""budget reservations: each reservation is a lease row, so a crashed call's hold can be reclaimed

Until now a reservation existed only as an amount added to `budget_usage.reserved_nusd`; if the
process died before settling it, the money stayed held until the period rolled over. Each
reservation now has a row in `budget_reservations`, inserted in the transaction that admits it,
with the periods it holds, the amount and an expiry. Holds made before this revision have no row
and cannot be told apart: release them with `UPDATE budget_usage SET reserved_nusd = 0` while no
call is running, if any are left.

Revision ID: 0005_budget_reservations
Revises: 0004_call_attempts
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from focal.storage.tables import UtcDateTime

revision = "0005_budget_reservations"
down_revision = "0004_call_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_reservations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("day_start", sa.String(10), nullable=True),
        sa.Column("month_start", sa.String(10), nullable=True),
        sa.Column("amount_nusd", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("reclaimed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_budget_reservations"),
    )
    op.create_index("ix_budget_reservations_tenant_expiry", "budget_reservations", ["tenant_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_budget_reservations_tenant_expiry", table_name="budget_reservations")
    op.drop_table("budget_reservations")
