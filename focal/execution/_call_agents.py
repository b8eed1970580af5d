"""Per-call Agno agents: one initialized template per model, copied for each call, never run itself.

A per-call agent has no database and no cached session, so the session Agno builds for its run is
thrown away when the run ends. Agno still folds the run's metrics into that session's metrics on
every run (two `dataclasses.asdict` walks, about 40 µs, a third of a bare run); nothing can read
the result, and Focal records the usage itself. For these agents only, that step is skipped: any
other agent (the host's own, or one given a database or `cache_session`) keeps it unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from agno.agent import Agent

from focal.providers import current_observation

__all__ = ["install_agno_hooks", "new_template", "own_tool_bookkeeping", "per_call_copy"]

_PER_CALL = "_focal_per_call"
"""Set on templates (and so on their copies): the agent's session dies with its run."""


def new_template(model: Any) -> Agent:
    """An initialized Agent around `model`, marked as a per-call template."""
    template = Agent(model=model, telemetry=False, markdown=False)
    template.initialize_agent()
    setattr(template, _PER_CALL, True)
    return template


def per_call_copy(template: Agent) -> Agent:
    """A shallow copy of `template` for one call: Agno's runs only reassign attributes, which stay on
    the copy (`copy.copy` without the pickle-protocol detour; Agent is a plain dataclass)."""
    clone = object.__new__(type(template))
    clone.__dict__.update(template.__dict__)
    return clone


def own_tool_bookkeeping(agent: Agent) -> None:
    """Give a per-call copy that runs tools its own run bookkeeping: Agno appends the toolkits a run
    connected to these lists in place (and closes them when the run ends), so shared with the
    template, one tenant's run would close another's toolkits."""
    state = agent.__dict__
    for name in _RUN_LISTS:
        if name in state:
            state[name] = []
    for name in _RUN_CACHES:
        if isinstance(state.get(name), dict):
            state[name] = {}


_RUN_LISTS = ("_connectable_tools_initialized_on_run", "_mcp_tools_initialized_on_run")
"""Toolkits a run connected (closed when it ends): shared, one tenant's run would close another's."""
_RUN_CACHES = ("_callable_tools_cache", "_callable_knowledge_cache")


def session_dies_with_run(agent: Any) -> bool:
    """True for a Focal per-call agent whose session nothing keeps (no database, no cached session)."""
    return getattr(agent, _PER_CALL, False) and agent.db is None and not agent.cache_session


def install_agno_hooks() -> None:
    """Quiet Agno's log lines for Focal's runs and skip dead session bookkeeping (idempotent)."""
    agno_logger = logging.getLogger("agno")
    if _FILTER not in agno_logger.filters:
        agno_logger.addFilter(_FILTER)
    _skip_dead_session_metrics()


class _InsideFocalCall(logging.Filter):
    """Drops Agno's own log lines for runs Focal makes: Focal reports those failures typed and recorded."""

    def filter(self, record: logging.LogRecord) -> bool:
        return current_observation() is None


_FILTER = _InsideFocalCall()


def _skip_dead_session_metrics() -> None:
    """Wrap Agno's `update_session_metrics` so it returns at once for a per-call agent's session.

    Agno resolves the function from `agno.agent._storage` at each call; if a later Agno moves it,
    nothing is wrapped and per-call runs simply pay for the bookkeeping again.
    """
    try:
        from agno.agent import _storage
    except ImportError:  # pragma: no cover - a later Agno layout
        return
    original = getattr(_storage, "update_session_metrics", None)
    if original is None or getattr(original, _PER_CALL, False):
        return

    def update_session_metrics(agent: Any, *args: Any, **kwargs: Any) -> None:
        if session_dies_with_run(agent):
            return
        original(agent, *args, **kwargs)

    update_session_metrics.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(update_session_metrics, _PER_CALL, True)  # installed once
    update_session_metrics.__doc__ = original.__doc__
    _storage.update_session_metrics = update_session_metrics
