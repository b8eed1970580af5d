"""demo tools: the demo shop's customers, orders and refunds, keyed by tenant

Revision ID: 0010_demo_tools
Revises: 0009_alignment
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from focal.storage.tables import UtcDateTime

revision = "0010_demo_tools"
down_revision = "0009_alignment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "demo_customers",
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("email", sa.String(256), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_demo_customers"),
        sa.UniqueConstraint("tenant_id", "email", name="uq_demo_customers_email"),
    )
    op.create_table(
        "demo_orders",
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("order_number", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("placed_at", UtcDateTime(), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "order_number", name="pk_demo_orders"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["demo_customers.tenant_id", "demo_customers.customer_id"],
            name="fk_demo_orders_customer",
        ),
    )
    op.create_table(
        "demo_refunds",
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("refund_id", sa.String(32), nullable=False),
        sa.Column("order_number", sa.String(32), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=True),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "refund_id", name="pk_demo_refunds"),
        sa.UniqueConstraint("tenant_id", "order_number", name="uq_demo_refunds_order"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "order_number"],
            ["demo_orders.tenant_id", "demo_orders.order_number"],
            name="fk_demo_refunds_order",
        ),
    )


def downgrade() -> None:
    op.drop_table("demo_refunds")
    op.drop_table("demo_orders")
    op.drop_table("demo_customers")
