"""The specs of Focal's shipped tools: what alignment configs may bind, checked at import."""

from __future__ import annotations

from focal.alignment import ToolCatalog, ToolSpec

__all__ = ["SHIPPED_TOOLS", "shipped_catalog"]

SHIPPED_TOOLS = (
    ToolSpec(
        "order_lookup",
        "Look up one of the tenant's orders by its number.",
        {"order_number": "string"},
        frozenset({"order_status", "order_total", "order_items", "carrier"}),
    ),
    ToolSpec(
        "customer_profile",
        "The current customer's profile (name, loyalty tier).",
        {},
        frozenset({"customer_name", "customer_tier"}),
    ),
    ToolSpec(
        "refund_request",
        "Request a refund for an order; small refunds are approved at once, larger ones go to review.",
        {"order_number": "string", "amount": "number"},
        frozenset({"refund_id", "refund_status"}),
    ),
)


def shipped_catalog() -> ToolCatalog:
    """A fresh catalog of the shipped tools (the workflow adds a host's own tools to it)."""
    return ToolCatalog(SHIPPED_TOOLS)
