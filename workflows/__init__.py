"""Focal workflows (installed as focal.workflows)."""
