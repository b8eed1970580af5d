"""runs per tenant: `workflow_runs` keyed by (tenant_id, run_id)

Run ids are the host's, and two tenants may use the same one: keyed by `run_id` alone, the second
tenant's run overwrote the first's row (its tenant included).

Revision ID: 0008_runs_per_tenant
Revises: 0007_workflow_run_aggregates
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008_runs_per_tenant"
down_revision = "0007_workflow_run_aggregates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs", recreate="always") as batch:  # SQLite: copies the table
        batch.drop_constraint("pk_workflow_runs", type_="primary")
        batch.create_primary_key("pk_workflow_runs", ["tenant_id", "run_id"])


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs", recreate="always") as batch:
        batch.drop_constraint("pk_workflow_runs", type_="primary")
        batch.create_primary_key("pk_workflow_runs", ["run_id"])
