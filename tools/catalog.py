"""The shipped tools: their registry over a database, and their catalog (specs only, no database).

Both come from the same functions (`DemoTools`): the catalog's specs are derived from them, so what
alignment configs are validated against is what the registry runs.
"""

from __future__ import annotations

from decimal import Decimal

from focal.tools.demo import DEFAULT_AUTO_APPROVE_LIMIT, DemoTools
from focal.tools.registry import ToolRegistry, spec_of
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.alignment import ToolCatalog

__all__ = ["SHIPPED_TOOLS", "shipped_catalog", "shipped_registry"]

SHIPPED_TOOLS = tuple(spec_of(function) for function in DemoTools.definitions())
"""The shipped tools' specs: order_lookup, customer_profile, refund_request."""


def shipped_catalog() -> ToolCatalog:
    """A fresh catalog of the shipped tools (the workflow adds a host's own tools to it)."""
    return ToolCatalog(SHIPPED_TOOLS)


def shipped_registry(engine: AsyncEngine, *, auto_approve_limit: Decimal = DEFAULT_AUTO_APPROVE_LIMIT) -> ToolRegistry:
    """A fresh registry of the shipped tools over `engine` (a host may `register` its own tools on it).

    Args:
        engine: the async engine of a database migrated to Focal's schema.
        auto_approve_limit: the largest refund `refund_request` approves without review.
    """
    return ToolRegistry(DemoTools(engine, auto_approve_limit=auto_approve_limit).functions())
