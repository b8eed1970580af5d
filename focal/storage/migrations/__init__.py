"""Alembic migrations of Focal's schema (run with `focal db upgrade`)."""
