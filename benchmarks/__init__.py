"""Focal's performance harnesses: `python -m benchmarks [NAME] [--quick] [--json FILE]` (see README)."""
