"""Focal tools (installed as focal.tools)."""
