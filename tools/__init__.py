"""Focal tools (installed as focal.tools): tenant-aware Agno tools, their registry and catalog, and the
demo shop's data.

Tools read the tenant from the turn's `RunContext` (`session_state["tenant_id"]`), never from an argument.
"""

from focal.tools.catalog import SHIPPED_TOOLS, shipped_catalog, shipped_registry
from focal.tools.context import customer_of, tenant_of
from focal.tools.demo import DEFAULT_AUTO_APPROVE_LIMIT, DemoTools
from focal.tools.demo_data import DemoTenantData, SeededTenant, demo_data_dir, load_demo_data, seed_demo_data
from focal.tools.errors import MissingCustomerError, MissingTenantError, ToolArgumentError, ToolError
from focal.tools.registry import (
    DEFAULT_TIMEOUT_SECONDS,
    RegisteredTool,
    ToolFunction,
    ToolOutput,
    ToolRegistry,
    ToolResult,
    spec_of,
    tool_outputs,
)

__all__ = [
    "DEFAULT_AUTO_APPROVE_LIMIT",
    "DEFAULT_TIMEOUT_SECONDS",
    "SHIPPED_TOOLS",
    "DemoTenantData",
    "DemoTools",
    "MissingCustomerError",
    "MissingTenantError",
    "RegisteredTool",
    "SeededTenant",
    "ToolArgumentError",
    "ToolError",
    "ToolFunction",
    "ToolOutput",
    "ToolRegistry",
    "ToolResult",
    "customer_of",
    "demo_data_dir",
    "load_demo_data",
    "seed_demo_data",
    "shipped_catalog",
    "shipped_registry",
    "spec_of",
    "tenant_of",
    "tool_outputs",
]
