"""Focal agents (installed as focal.agents)."""
