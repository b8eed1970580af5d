"""call attempts: `llm_calls` rows keyed by `attempt_id`; `call_id` shared by the attempts of one call

Until now each attempt had its own `call_id`. The column is renamed to `attempt_id` (keeping the
primary key), and a new `call_id` starts out equal to it for existing rows.

Revision ID: 0004_call_attempts
Revises: 0003_budgets
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_call_attempts"
down_revision = "0003_budgets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE llm_calls RENAME COLUMN call_id TO attempt_id")  # SQLite >= 3.25 and PostgreSQL
    op.add_column("llm_calls", sa.Column("call_id", sa.String(64), nullable=True))
    op.execute("UPDATE llm_calls SET call_id = attempt_id")
    with op.batch_alter_table("llm_calls") as batch:  # SQLite: copies the table; PostgreSQL: ALTER
        batch.alter_column("call_id", existing_type=sa.String(64), nullable=False)
    op.create_index("ix_llm_calls_call_id", "llm_calls", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_llm_calls_call_id", table_name="llm_calls")
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("call_id")
    op.execute("ALTER TABLE llm_calls RENAME COLUMN attempt_id TO call_id")
