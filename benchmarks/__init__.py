"""Focal's performance harnesses: `python -m benchmarks [name ...]` (see README)."""
