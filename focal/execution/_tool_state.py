"""The session state a call's tools see: the caller's dict, behind a guard on the tenant fields.

A caller (e.g. a workflow step) hands its `session_state` dict to a call; the call's tools read and
write it through `run_context.session_state`. Agno uses the dict it is given as is for an Agent
without a db (it neither copies nor persists it, and strips nothing), so Focal gives each run a
`ToolSessionState`: a dict that starts as a shallow copy of the caller's and writes every change
through to it at once (nested values are the caller's own objects), except that

- the tenant fields (`tenant_id`, `agent_id`, and `session_id` when the call has one) always hold the
  `ExecutionContext`'s values: writing or deleting them is ignored (and logged), so no tool, and no
  later tool of the same call, can act for another tenant;
- Agno's per-run keys (`current_user_id`, `current_session_id`, `current_run_id`) stay in the view and
  never reach the caller's dict (a workflow keeps its own).

Records never read the state: they take the tenant from the context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from focal.execution.errors import ConfigurationError
from focal.execution.types import ExecutionContext
from focal.logging import get_logger

__all__ = ["TENANT_KEYS", "ToolSessionState", "claim_state", "guard_hook", "tenant_fields"]

TENANT_KEYS = ("tenant_id", "agent_id", "session_id")
"""The session-state keys Focal owns: set from the `ExecutionContext`, never changed by a tool."""
_RUN_LOCAL = frozenset({"current_user_id", "current_session_id", "current_run_id"})
_MISSING = object()

log = get_logger("focal.executor")


def tenant_fields(ctx: ExecutionContext) -> dict[str, str]:
    """The tenant fields of `ctx` (a call without a session id has no `session_id` field)."""
    fields = {"tenant_id": ctx.tenant_id, "agent_id": ctx.agent_id}
    if ctx.session_id is not None:
        fields["session_id"] = ctx.session_id
    return fields


def claim_state(state: dict[str, Any], ctx: ExecutionContext) -> None:
    """Set the tenant fields of `ctx` in the caller's `state`.

    Raises:
        ConfigurationError: `state` is not a dict, or already holds another tenant's fields.
    """
    if not isinstance(state, dict):
        raise ConfigurationError(f"session_state must be a dict, got {type(state).__name__}")
    fields = tenant_fields(ctx)
    clash = {k: state[k] for k, v in fields.items() if state.get(k, v) != v}
    if clash:
        raise ConfigurationError(f"session_state belongs to {clash}, not to this call's {fields}")
    state.update(fields)


class ToolSessionState(dict[str, Any]):
    """One run's view of the caller's session state (module docstring). Copies are plain dicts.

    Args:
        backing: the caller's dict; every change but a tenant field's or Agno's per-run keys is written to it.
        fixed: the tenant fields (`tenant_fields(ctx)`).
    """

    __slots__ = ("_backing", "_fixed")

    def __init__(self, backing: dict[str, Any], fixed: Mapping[str, Any]) -> None:
        super().__init__(backing)
        super().update(fixed)
        self._backing = backing
        self._fixed = dict(fixed)

    def _refused(self, key: str, what: str) -> bool:
        if key in self._fixed:
            log.warning("tenant_field_write_ignored", key=key, action=what)
            return True
        return False

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._fixed and value == self._fixed[key]:
            return
        if self._refused(key, "set"):
            return
        super().__setitem__(key, value)
        if key not in _RUN_LOCAL:
            self._backing[key] = value

    def __delitem__(self, key: str) -> None:
        if self._refused(key, "delete"):
            return
        super().__delitem__(key)
        if key not in _RUN_LOCAL:
            self._backing.pop(key, None)

    def pop(self, key: str, default: Any = _MISSING) -> Any:  # type: ignore[override]
        if key in self._fixed:
            self._refused(key, "pop")
            return self._fixed[key]
        value = super().pop(key) if default is _MISSING else super().pop(key, default)
        if key not in _RUN_LOCAL:
            self._backing.pop(key, None)
        return value

    def popitem(self) -> tuple[str, Any]:
        for key in reversed(self):
            if key not in self._fixed:
                return key, self.pop(key)
        raise KeyError("popitem(): only the tenant fields are left")

    def clear(self) -> None:
        for key in [k for k in self if k not in self._fixed]:
            del self[key]

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> ToolSessionState:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        from copy import deepcopy

        return {deepcopy(k, memo): deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Callable[..., dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self),)


def guard_hook(view: ToolSessionState) -> Callable[..., Any]:
    """An Agno tool hook keeping `view` as the run's `session_state` around every tool call (a tool that
    replaces `run_context.session_state` with its own dict changes nothing the next tool sees)."""

    async def guard_session_state(
        function_call: Callable[..., Any], arguments: dict[str, Any], run_context: Any
    ) -> Any:
        _keep(run_context, view)
        try:
            result = function_call(**arguments)
            return await result if isinstance(result, Awaitable) else result
        finally:
            _keep(run_context, view)

    return guard_session_state


def _keep(run_context: Any, view: ToolSessionState) -> None:
    if run_context is not None and run_context.session_state is not view:
        log.warning("tool_session_state_replaced")
        run_context.session_state = view
