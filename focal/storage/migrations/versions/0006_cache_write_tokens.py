"""cache-write tokens: input tokens written to a provider's prompt cache, per call and per daily aggregate

Revision ID: 0006_cache_write_tokens
Revises: 0005_budget_reservations
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_cache_write_tokens"
down_revision = "0005_budget_reservations"
branch_labels = None
depends_on = None

_TABLES = {"llm_calls": sa.Integer(), "telemetry_daily_aggregates": sa.BigInteger()}


def upgrade() -> None:
    for table, kind in _TABLES.items():
        op.add_column(table, sa.Column("cache_write_tokens", kind, nullable=False, server_default="0"))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("cache_write_tokens")
