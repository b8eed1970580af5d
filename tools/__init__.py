"""Focal tools (installed as focal.tools): tenant-aware Agno tools and their catalog."""

from focal.tools.catalog import SHIPPED_TOOLS, shipped_catalog

__all__ = ["SHIPPED_TOOLS", "shipped_catalog"]
