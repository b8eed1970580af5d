"""Who a tool acts for, read from the turn's Agno `RunContext` (what the host vouched for), never from
an argument the model fills."""

from __future__ import annotations

from agno.run import RunContext
from focal.tools.errors import MissingCustomerError, MissingTenantError

__all__ = ["customer_of", "tenant_of"]


def tenant_of(run_context: RunContext | None, tool_id: str) -> str:
    """The tenant in `run_context.session_state["tenant_id"]`.

    Raises:
        MissingTenantError: no run context, no session state, or no non-empty string tenant in it.
    """
    state = run_context.session_state if run_context is not None else None
    tenant = state.get("tenant_id") if isinstance(state, dict) else None
    if not isinstance(tenant, str) or not tenant.strip():
        raise MissingTenantError(tool_id)
    return tenant


def customer_of(run_context: RunContext | None, tool_id: str) -> str:
    """The customer a tool acts for: the run's user id (the host's, like the tenant).

    Raises:
        MissingCustomerError: the run has no user id.
    """
    user = run_context.user_id if run_context is not None else None
    if not isinstance(user, str) or not user.strip():
        raise MissingCustomerError(tool_id)
    return user
