"""Per-call Agno agents: a fresh `Agent` per call through Agno's public constructor, around a shared model.

A fresh Agent costs about 25 µs; `Agent.deep_copy()` about 900 µs (it deep-copies every field, tools
included), which would be most of a call's overhead. Nothing of one call's agent is shared with another's
but the model (whose HTTP pool is meant to be shared) and the tools, so concurrent calls for different
tenants cannot see each other's instructions, run bookkeeping or session state.

A step's own Agent definition (an `AgentTemplate`: instructions, output schema, tools; no model, no db)
is read once per call and each attempt's agent is built from it the same way; the definition itself is
never touched, so one module-level Agent serves every tenant at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agno.agent import Agent
from pydantic import BaseModel

from focal.execution.errors import ConfigurationError
from focal.execution.types import Message, Role
from focal.providers import current_observation, mark_tools_ran

__all__ = ["AgentTemplate", "per_call_agent", "quiet_agno_logs_in_focal_calls"]

_COPIED = (
    "id",
    "role",
    "description",
    "expected_output",
    "additional_context",
    "system_message",
    "markdown",
    "use_instruction_tags",
    "add_name_to_context",
    "add_datetime_to_context",
    "add_session_state_to_context",
    "add_dependencies_to_context",
    "input_schema",
    "structured_outputs",
    "use_json_mode",
    "tool_call_limit",
    "tool_choice",
)
"""Template settings each per-call copy gets as they are (besides name, instructions, schema, tools)."""
_REFUSED = (
    "model",
    "db",
    "fallback_models",
    "fallback_config",
    "parser_model",
    "output_model",
    "reasoning_model",
    "reasoning_agent",
    "pre_hooks",
    "post_hooks",
    "knowledge",
    "memory_manager",
    "session_state",
)
"""What a template must not have: a model or db of its own (Focal resolves the model; a call keeps no
session), or behaviour a per-call copy would silently drop."""
_TEXT = ("description", "instructions", "expected_output", "additional_context", "system_message")


def per_call_agent(
    model: Any,
    *,
    instructions: str | list[str] | Callable[..., Any] | None = None,
    output_schema: type[BaseModel] | None = None,
    tools: Sequence[Any] = (),
    tool_hooks: Sequence[Callable[..., Any]] = (),
    settings: dict[str, Any] | None = None,
) -> Agent:
    """An Agent for one call: no database, no telemetry; its tools report that they ran (`tools_ran`),
    then pass through `tool_hooks`. `settings`: further constructor arguments (a template's)."""
    return Agent(
        model=model,
        instructions=instructions,
        output_schema=output_schema,
        tools=list(tools) if tools else None,
        tool_hooks=[mark_tools_ran, *tool_hooks] if tools else None,
        telemetry=False,
        **({"markdown": False} if settings is None else settings),
    )


@dataclass(frozen=True, slots=True)
class AgentTemplate:
    """A step's Agno Agent definition, as each attempt's per-call agent copies it."""

    name: str
    instructions: str | list[str] | Callable[..., Any] | None
    output_schema: type[BaseModel] | None
    tools: tuple[Any, ...]
    tool_hooks: tuple[Callable[..., Any], ...]
    settings: dict[str, Any]
    text: str | None
    """The prompt text the template adds (its description, instructions, …): what estimates count."""

    @classmethod
    def of(cls, agent: Agent) -> AgentTemplate:
        """Read a template.

        Raises:
            ConfigurationError: not an Agent; it has a model, a db or something a copy cannot keep;
                a non-pydantic output schema; a tools factory.
        """
        if not isinstance(agent, Agent):
            raise ConfigurationError(f"run_agent takes an agno Agent, got {type(agent).__name__}")
        name = agent.name or agent.id or "<unnamed>"
        has = [f for f in _REFUSED if getattr(agent, f, None) not in (None, [], {})]
        if has:
            raise ConfigurationError(
                f"agent {name!r} is a template: it must have no model and no db, nor anything a per-call copy "
                f"would drop; it has {', '.join(has)}"
            )
        schema = agent.output_schema
        if schema is not None and not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise ConfigurationError(f"agent {name!r}: output_schema must be a pydantic model class")
        if agent.tools is not None and not isinstance(agent.tools, list | tuple):
            raise ConfigurationError(f"agent {name!r}: tools must be a list (not a factory)")
        settings: dict[str, Any] = {"name": agent.name, **{f: getattr(agent, f) for f in _COPIED}}
        if agent.dependencies is not None:
            settings["dependencies"] = agent.dependencies
        parts = [_text(getattr(agent, f)) for f in _TEXT]
        return cls(
            name=name,
            instructions=agent.instructions,
            output_schema=schema,
            tools=tuple(agent.tools or ()),
            tool_hooks=tuple(agent.tool_hooks or ()),
            settings=settings,
            text="\n\n".join(p for p in parts if p) or None,
        )

    def check(self, messages: Sequence[Message]) -> None:
        """Raises ConfigurationError when the prompt's system messages cannot join the instructions."""
        if callable(self.instructions) and any(m.role is Role.SYSTEM for m in messages):
            raise ConfigurationError(f"agent {self.name!r} has callable instructions: give no system messages")

    def build(
        self,
        model: Any,
        *,
        system: Sequence[str] = (),
        tools: Sequence[Any] = (),
        tool_hooks: Sequence[Callable[..., Any]] = (),
    ) -> Agent:
        """A per-call copy on `model`; `system`: the prompt's system messages, after the instructions."""
        instructions = self.instructions
        if system:
            base = [] if instructions is None else [instructions] if isinstance(instructions, str) else instructions
            instructions = [*base, *system]  # type: ignore[misc]
        settings = dict(self.settings)
        if "dependencies" in settings:  # Agno resolves them in place: each run its own dict
            settings["dependencies"] = dict(settings["dependencies"])
        return per_call_agent(
            model,
            instructions=list(instructions) if isinstance(instructions, list) else instructions,
            output_schema=self.output_schema,
            tools=tools,
            tool_hooks=[*tool_hooks, *self.tool_hooks],
            settings=settings,
        )


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return None


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
