"""Alembic environment: runs on the connection handed over by `focal.storage.upgrade`."""

from alembic import context

from focal.storage.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - Focal always passes its own connection
    raise RuntimeError("run migrations through `focal db upgrade` (focal.storage.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
