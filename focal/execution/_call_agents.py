"""Per-call Agno agents: a fresh `Agent` per call through Agno's public constructor, around a shared model.

A fresh Agent costs about 25 µs; `Agent.deep_copy()` about 900 µs (it deep-copies every field), which
would be most of a call's overhead. Nothing of one call's agent is shared with another's but the model
(whose HTTP pool is meant to be shared), so concurrent calls for different tenants cannot see each other's
instructions, tools or run bookkeeping.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from agno.agent import Agent
from pydantic import BaseModel

from focal.providers import current_observation, mark_tools_ran

__all__ = ["per_call_agent", "quiet_agno_logs_in_focal_calls"]


def per_call_agent(
    model: Any,
    *,
    instructions: str | None = None,
    output_schema: type[BaseModel] | None = None,
    tools: Sequence[Any] = (),
) -> Agent:
    """An Agent for one call: no database, no telemetry; its tools report that they ran (`tools_ran`)."""
    return Agent(
        model=model,
        instructions=instructions,
        output_schema=output_schema,
        tools=list(tools) if tools else None,
        tool_hooks=[mark_tools_ran] if tools else None,
        telemetry=False,
        markdown=False,
    )


def quiet_agno_logs_in_focal_calls() -> None:
    """Drop Agno's own log lines for the runs Focal makes (Focal reports those failures typed and
    recorded); Agno's lines for the host's own runs are untouched. Idempotent."""
    agno_logger = logging.getLogger("agno")
    if _FILTER not in agno_logger.filters:
        agno_logger.addFilter(_FILTER)


class _InsideFocalCall(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return current_observation() is None


_FILTER = _InsideFocalCall()
