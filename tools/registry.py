"""The tool registry: tool id → its spec and the Agno tool function, and `invoke`, which runs one tool
for the workflow (validated arguments, a timeout, a typed result).

A tool is an `async def` Agno tool: its parameters are what the model (or a binding) fills, plus
`run_context: RunContext`, which Agno injects and hides from the model's schema; the tenant is read
from there (`focal.tools.context.tenant_of`), never from an argument. Its spec is *derived* from the
function (id: its name; description: its docstring's first paragraph; parameters: its signature;
outputs: `@tool_outputs`), so the catalog configs are validated against cannot drift from the code.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import time
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from agno.run import RunContext
from focal.tools.errors import ToolArgumentError, ToolError

from focal.alignment import ToolCatalog, ToolSpec
from focal.logging import get_logger

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "RegisteredTool",
    "ToolFunction",
    "ToolOutput",
    "ToolRegistry",
    "ToolResult",
    "spec_of",
    "tool_outputs",
]

DEFAULT_TIMEOUT_SECONDS = 10.0
"""`invoke`'s timeout when the caller gives none (a binding's default `timeout_seconds` too)."""

ToolFunction = Callable[..., Awaitable[Mapping[str, Any]]]
F = TypeVar("F", bound=Callable[..., Any])

log = get_logger("focal.tools")

_OUTPUTS_ATTR = "__focal_tool_outputs__"
_INJECTED = ("self", "run_context")
_JSON_TYPES: dict[Any, str] = {
    str: "string",
    float: "number",
    int: "integer",
    bool: "boolean",
    list: "array",
    dict: "object",
}


class ToolOutput(dict[str, Any]):
    """A tool's result: a dict (turn variables, for the workflow) that the model reads as JSON (Agno
    hands the model `str(result)`)."""

    def __str__(self) -> str:
        return json.dumps(self, default=str, ensure_ascii=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """One invocation's outcome. `ok=False`: `error` says why (naming the tool) and `output` is empty."""

    tool_id: str
    ok: bool
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    """A tool's spec, its Agno tool function, and which of its parameters must be given."""

    spec: ToolSpec
    function: ToolFunction
    required: frozenset[str]


def tool_outputs(*names: str) -> Callable[[F], F]:
    """Declare the fields a tool's result sets as turn variables (its spec's `outputs`)."""

    def mark(function: F) -> F:
        setattr(function, _OUTPUTS_ATTR, frozenset(names))
        return function

    return mark


def _json_type(tool_id: str, name: str, annotation: Any) -> tuple[str, bool]:
    """(JSON type, whether None is allowed) of a parameter annotation."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1 and members[0] in _JSON_TYPES:
            return _JSON_TYPES[members[0]], True
    base = typing.get_origin(annotation) or annotation
    if base in _JSON_TYPES:
        return _JSON_TYPES[base], False
    raise TypeError(f"tool {tool_id!r}: parameter {name!r} has an unsupported type {annotation!r}")


def _signature(function: Callable[..., Any]) -> tuple[str, dict[str, str], frozenset[str]]:
    """(tool id, parameters name → JSON type, required parameter names) from a tool function."""
    tool_id = function.__name__
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"tool {tool_id!r} must be an `async def` function (so a timeout can stop it)")
    hints = typing.get_type_hints(function)
    params = inspect.signature(function).parameters
    if "run_context" not in params:
        raise TypeError(f"tool {tool_id!r} must take `run_context: RunContext` (the tenant comes from there)")
    parameters: dict[str, str] = {}
    required: set[str] = set()
    for name, param in params.items():
        if name in _INJECTED:
            continue
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"tool {tool_id!r}: parameter {name!r} must be a named parameter")
        if name == "tenant_id":
            raise TypeError(f"tool {tool_id!r} must not take a tenant_id argument: read it from run_context")
        parameters[name], _ = _json_type(tool_id, name, hints.get(name, param.annotation))
        if param.default is param.empty:
            required.add(name)
    return tool_id, parameters, frozenset(required)


def spec_of(function: Callable[..., Any]) -> ToolSpec:
    """The spec of a tool function (a plain function or a bound method).

    Raises:
        TypeError: not `async`, no `run_context` parameter, a `tenant_id` parameter, a parameter type
            other than str / float / int / bool / list / dict (or `X | None`), no docstring, or no
            `@tool_outputs`.
    """
    tool_id, parameters, _ = _signature(function)
    doc = inspect.getdoc(function)
    if not doc:
        raise TypeError(f"tool {tool_id!r} needs a docstring: its first paragraph is what the model reads")
    outputs = getattr(function, _OUTPUTS_ATTR, None)
    if outputs is None:
        raise TypeError(f"tool {tool_id!r} declares no outputs: decorate it with @tool_outputs(...)")
    description = " ".join(doc.split("\n\n", 1)[0].split())
    return ToolSpec(tool_id, description, parameters, outputs)


class ToolRegistry:
    """Tools by id. Built once per process and shared by every tenant (tools hold no tenant state)."""

    def __init__(self, functions: Iterable[ToolFunction] = ()) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        for function in functions:
            self.register(function)

    def register(self, function: ToolFunction) -> ToolSpec:
        """Add a tool; returns its derived spec.

        Raises:
            TypeError: the function is not a valid tool (see `spec_of`).
            ValueError: a tool of that id is registered already.
        """
        spec = spec_of(function)
        if spec.id in self._tools:
            raise ValueError(f"tool {spec.id!r} is registered twice")
        self._tools[spec.id] = RegisteredTool(spec, function, _signature(function)[2])
        return spec

    def get(self, tool_id: str) -> RegisteredTool | None:
        return self._tools.get(tool_id)

    def __contains__(self, tool_id: object) -> bool:
        return tool_id in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[RegisteredTool]:
        return iter(self._tools[tool_id] for tool_id in self.ids())

    def ids(self) -> list[str]:
        return sorted(self._tools)

    def catalog(self) -> ToolCatalog:
        """The specs, as the catalog alignment configs are validated against."""
        return ToolCatalog(tool.spec for tool in self)

    def agno_tools(self, ids: Iterable[str] | None = None) -> list[ToolFunction]:
        """The Agno tool functions (for `Agent(tools=...)`), all or those named.

        Raises:
            KeyError: an id that is not registered.
        """
        wanted = self.ids() if ids is None else list(ids)
        unknown = [tool_id for tool_id in wanted if tool_id not in self._tools]
        if unknown:
            raise KeyError(f"unknown tool(s): {', '.join(unknown)}")
        return [self._tools[tool_id].function for tool_id in wanted]

    async def invoke(
        self,
        tool_id: str,
        arguments: Mapping[str, Any],
        run_context: RunContext,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
    ) -> ToolResult:
        """Run one tool for the workflow. Never raises for a tool's failure: it is in the result.

        Args:
            tool_id: the tool.
            arguments: its arguments by parameter name, checked against its spec (numbers may be given
                as numeric strings). The tenant is never one: it comes from `run_context`.
            run_context: the turn's context; `session_state["tenant_id"]` says whom the tool acts for.
            timeout: seconds before the tool is cancelled (`None`: no limit; 0 or less: cancelled at its
                first wait).
        """
        started = time.perf_counter()

        def failed(error: str) -> ToolResult:
            return ToolResult(tool_id=tool_id, ok=False, error=error, elapsed_ms=_ms_since(started))

        tool = self._tools.get(tool_id)
        if tool is None:
            return failed(f"unknown tool {tool_id!r} (registered: {', '.join(self.ids()) or 'none'})")
        try:
            values = _checked_arguments(tool, arguments)
        except ToolArgumentError as exc:
            return failed(str(exc))
        limit = None if timeout is None else max(0.0, timeout)
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                output = await tool.function(run_context=run_context, **values)
        except TimeoutError as exc:
            if deadline.expired():
                return failed(f"{tool_id} timed out after {limit:g} s")
            return failed(f"{tool_id} failed: TimeoutError: {_first_line(exc)}")  # the tool's own timeout
        except ToolError as exc:
            return failed(str(exc))
        except Exception as exc:  # a tool's bug or its backend's failure: recorded, never a crashed turn
            log.warning("tool_failed", tool_id=tool_id, error=f"{type(exc).__name__}: {_first_line(exc)}")
            return failed(f"{tool_id} failed: {type(exc).__name__}: {_first_line(exc)}")
        if not isinstance(output, Mapping):
            return failed(f"{tool_id} returned a {type(output).__name__}, not a mapping of output fields")
        undeclared = sorted(set(output) - tool.spec.outputs)
        if undeclared:
            return failed(f"{tool_id} returned undeclared fields: {', '.join(undeclared)}")
        return ToolResult(tool_id=tool_id, ok=True, output=dict(output), elapsed_ms=_ms_since(started))


def _checked_arguments(tool: RegisteredTool, arguments: Mapping[str, Any]) -> dict[str, Any]:
    spec = tool.spec
    for name in arguments:
        if name not in spec.parameters:
            expected = ", ".join(spec.parameters) or "none"
            why = " (the tenant comes from the session state, never from an argument)" if name == "tenant_id" else ""
            raise ToolArgumentError(spec.id, name, f"unexpected argument {name!r}{why}; expected: {expected}")
    values: dict[str, Any] = {}
    for name, json_type in spec.parameters.items():
        value = arguments.get(name)
        if value is None:
            if name in tool.required:
                raise ToolArgumentError(spec.id, name, f"missing argument {name!r} ({json_type})")
            continue
        values[name] = _coerce(spec.id, name, json_type, value)
    return values


def _coerce(tool_id: str, name: str, json_type: str, value: Any) -> Any:
    if json_type == "number" and not isinstance(value, bool):
        number = _number(value)
        if number is not None:
            return number
    elif json_type == "integer" and not isinstance(value, bool):
        number = _number(value)
        if number is not None and number.is_integer():
            return int(number)
    elif (
        (json_type == "string" and isinstance(value, str))
        or (json_type == "boolean" and isinstance(value, bool))
        or (json_type == "array" and isinstance(value, list | tuple))
        or (json_type == "object" and isinstance(value, Mapping))
    ):
        return value
    article = "an" if json_type[0] in "aeiou" else "a"
    raise ToolArgumentError(tool_id, name, f"argument {name!r} must be {article} {json_type}, got {value!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(Decimal(value.strip()))
        except InvalidOperation:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"
