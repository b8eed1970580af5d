"""Errors a tool raises on purpose; `ToolRegistry.invoke` turns each into a failed `ToolResult`.

- `ToolError`: a tool refused or could not do its job; the message names the tool.
  - `ToolArgumentError`: an argument is missing, unexpected or of the wrong type (names the argument).
  - `MissingTenantError`: the run context carries no tenant (`session_state["tenant_id"]`).
  - `MissingCustomerError`: a tool acting for the customer was run without a user id.
"""

from __future__ import annotations

from focal.errors import FocalError

__all__ = ["MissingCustomerError", "MissingTenantError", "ToolArgumentError", "ToolError"]


class ToolError(FocalError):
    """A tool refused or failed on purpose. Args: tool_id: the tool; message: what went wrong."""

    def __init__(self, tool_id: str, message: str) -> None:
        super().__init__(f"{tool_id}: {message}")
        self.tool_id = tool_id
        self.detail = message

    def __reduce__(self):  # type: ignore[no-untyped-def]  # picklable (subclasses with other arguments override)
        return (type(self), (self.tool_id, self.detail))


class ToolArgumentError(ToolError, ValueError):
    """A bad argument. `argument`: its name."""

    def __init__(self, tool_id: str, argument: str, message: str) -> None:
        super().__init__(tool_id, message)
        self.argument = argument

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (ToolArgumentError, (self.tool_id, self.argument, self.detail))


class MissingTenantError(ToolError):
    """No tenant in the run context's session state: the tool does nothing rather than guess."""

    def __init__(self, tool_id: str) -> None:
        super().__init__(
            tool_id, "no tenant in the run context (session_state['tenant_id'] is missing): refusing to run"
        )

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (MissingTenantError, (self.tool_id,))


class MissingCustomerError(ToolError):
    """The run context has no user id, so there is no customer to act for."""

    def __init__(self, tool_id: str) -> None:
        super().__init__(tool_id, "no customer in the run context (run_context.user_id is missing): refusing to run")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (MissingCustomerError, (self.tool_id,))
