"""The local llama.cpp OpenAI-compatible server via Agno's `LlamaCpp` (the OpenAI SDK underneath).

Same wire format and raw objects as `_openai` (ChatCompletion / ChatCompletionChunk), so the same error
mapping and response hook apply. llama.cpp sends no request id header.

A stream's end marker: the usage chunk when the server sends one (`stream_usage: true` on the provider),
else the finish_reason chunk -- the default here, since llama-cpp-python's server has not always sent the
usage chunk Agno asks for (`stream_options.include_usage`).

`python -m llama_cpp.server --chat_format chatml-function-calling` (what `focal.local` starts) differs from
OpenAI in three ways that `LlamaCppServer` bridges, on the sync and async paths alike:

- it refuses OpenAI's `response_format={"type": "json_schema", ...}` (HTTP 500) but turns its own
  `{"type": "json_object", "schema": ...}` into a grammar: structured output is sent that way, its free
  strings held to plain characters and bounded so the JSON parses and closes within `max_tokens`;
- its chat template drops `role: "tool"` messages: tool results are sent as user messages;
- it ignores tools unless `tool_choice` is `"auto"` (a missing choice means `"none"` there): tools go with
  `"auto"` unless the caller chose, and with `"none"` once a tool result is the last message (a tiny model
  otherwise calls the tool again and again).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from agno.models.llama_cpp import LlamaCpp
from agno.models.message import Message

from focal.providers import _openai
from focal.providers._capture import ObservingMixin, ProviderHooks
from focal.providers._params import CallParams
from focal.routing.registry import ModelInfo, ProviderConnection

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError

__all__ = ["HOOKS", "FocalLlamaCpp", "LlamaCppServer", "build", "map_error"]


HOOKS = _openai.HOOKS

TOOL_RESULT_PROMPT = "Result of the tool {name}: {content}\nNow answer using this result."
"""How a tool result reaches the model: as a user message (the server's template drops tool messages)."""


CHARS_PER_TOKEN = 1
"""What the string bound assumes a token writes: a tiny model's JSON has been seen at 1.7 characters a
token (escapes, repetitions), so one character is the safe side."""
MIN_STRING_CHARS = 32
"""Room a free string keeps whatever the share: an id copied from the prompt fits."""
MAX_ARRAY_ITEMS = 4
_PLAIN_CHARS = r'[^"\\\x00-\x1f]'
"""A JSON string's characters without escapes: the server's own string rule lets raw control characters
(a newline) through, which no JSON parser accepts."""


def server_response_format(params: dict[str, Any], max_tokens: int | None = None) -> dict[str, Any]:
    """OpenAI's `json_schema` response format -> the server's `json_object` with the schema (a grammar).

    The schema's free strings get a pattern the grammar enforces (see `grammar_strings`); the answer is
    still validated against the caller's own schema.
    """
    response_format = params.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            schema = grammar_strings(schema, max_tokens * CHARS_PER_TOKEN if max_tokens else None)
        params["response_format"] = {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    return params


def _free_strings(node: Any) -> list[dict[str, Any]]:
    """Every `{"type": "string"}` sub-schema without a pattern, format or fixed values."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "string" and not node.keys() & {"pattern", "format", "enum", "const"}:
            found.append(node)
        for value in node.values():
            found += _free_strings(value)
    elif isinstance(node, list):
        for value in node:
            found += _free_strings(value)
    return found


def _bound_arrays(node: Any) -> None:
    """Every array without `maxItems` gets `MAX_ARRAY_ITEMS` (a tiny model otherwise lists until the cut)."""
    if isinstance(node, dict):
        if node.get("type") == "array" and "maxItems" not in node:
            node["maxItems"] = MAX_ARRAY_ITEMS
        for value in node.values():
            _bound_arrays(value)
    elif isinstance(node, list):
        for value in node:
            _bound_arrays(value)


def grammar_strings(schema: dict[str, Any], max_chars: int | None) -> dict[str, Any]:
    """A copy of `schema` whose free strings the server's grammar keeps parseable and short enough.

    Each gets a pattern of plain characters (no control character, quote or backslash), at most its
    `maxLength`; strings without one share `max_chars` (the call's `max_tokens`): the grammar then closes
    the JSON before the answer is cut (a tiny model otherwise fills one string until the cut, and the
    half object fails to parse). Arrays hold at most `MAX_ARRAY_ITEMS` entries (a list the caller needs
    longer is completed elsewhere: rules left unjudged go to rule filtering). A shorter, plainer answer
    is still valid for the caller's schema.
    """
    schema = copy.deepcopy(schema)
    _bound_arrays(schema)
    strings = _free_strings(schema)
    unbounded = sum("maxLength" not in node for node in strings)
    share = max(MIN_STRING_CHARS, max_chars // unbounded) if max_chars and unbounded else None
    for node in strings:
        low, high = node.get("minLength", 0), node.get("maxLength", share)
        if high is not None:
            node["maxLength"] = high
        node["pattern"] = f"^{_PLAIN_CHARS}{{{low},{high}}}$" if high is not None else f"^{_PLAIN_CHARS}*$"
    return schema


def server_messages(messages: list[Message], compress_tool_results: bool = False) -> list[Message]:
    """The conversation as the server's template renders it: each tool result becomes a user message.

    Returns a new list; the run's own messages are left as they are (Agno keeps them in the session).
    """
    if not any(m.role == "tool" for m in messages):
        return messages
    out = []
    for message in messages:
        if message.role != "tool":
            out.append(message)
            continue
        content = message.get_content(use_compressed_content=compress_tool_results)
        name = message.tool_name or "call"
        out.append(Message(role="user", content=TOOL_RESULT_PROMPT.format(name=name, content=content)))
    return out


def server_tool_choice(messages: list[Message], tools: list[Any] | None, tool_choice: Any) -> Any:
    """`"none"` right after a tool result, else the caller's choice, else `"auto"` when there are tools."""
    if not tools:
        return tool_choice
    if messages and messages[-1].role == "tool":
        return "none"
    return "auto" if tool_choice is None else tool_choice


@dataclass
class LlamaCppServer(LlamaCpp):
    """`LlamaCpp` speaking to `llama_cpp.server` as that server understands it (see the module doc)."""

    def get_request_params(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Agno's request parameters, with the response format the server accepts."""
        return server_response_format(super().get_request_params(*args, **kwargs), self.max_tokens)

    @staticmethod
    def _server_call(
        messages: list[Message], tools: Any, tool_choice: Any, compress_tool_results: bool
    ) -> tuple[list[Message], Any]:
        """An `invoke*` call's messages and tool choice as the server needs them."""
        return server_messages(messages, compress_tool_results), server_tool_choice(messages, tools, tool_choice)

    def invoke(
        self,
        messages: list[Message],
        assistant_message: Message,
        response_format: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
        run_response: Any = None,
        compress_tool_results: bool = False,
    ) -> Any:
        sent, choice = self._server_call(messages, tools, tool_choice, compress_tool_results)
        return super().invoke(
            sent, assistant_message, response_format, tools, choice, run_response, compress_tool_results
        )

    async def ainvoke(
        self,
        messages: list[Message],
        assistant_message: Message,
        response_format: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
        run_response: Any = None,
        compress_tool_results: bool = False,
    ) -> Any:
        sent, choice = self._server_call(messages, tools, tool_choice, compress_tool_results)
        return await super().ainvoke(
            sent, assistant_message, response_format, tools, choice, run_response, compress_tool_results
        )

    def invoke_stream(
        self,
        messages: list[Message],
        assistant_message: Message,
        response_format: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
        run_response: Any = None,
        compress_tool_results: bool = False,
    ) -> Iterator[Any]:
        sent, choice = self._server_call(messages, tools, tool_choice, compress_tool_results)
        yield from super().invoke_stream(
            sent, assistant_message, response_format, tools, choice, run_response, compress_tool_results
        )

    async def ainvoke_stream(
        self,
        messages: list[Message],
        assistant_message: Message,
        response_format: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
        run_response: Any = None,
        compress_tool_results: bool = False,
    ) -> AsyncIterator[Any]:
        sent, choice = self._server_call(messages, tools, tool_choice, compress_tool_results)
        async for item in super().ainvoke_stream(
            sent, assistant_message, response_format, tools, choice, run_response, compress_tool_results
        ):
            yield item


@dataclass
class FocalLlamaCpp(ObservingMixin, LlamaCppServer):
    """`LlamaCppServer` observed by Focal (errors, finish reason, stream end)."""

    focal_hooks: ClassVar[ProviderHooks | None] = HOOKS


def build(model: ModelInfo, connection: ProviderConnection, params: CallParams) -> Any:
    """A `LlamaCpp` model on the loopback server, SDK retries off."""
    built = FocalLlamaCpp(
        id=model.id,
        base_url=connection.base_url() or "http://127.0.0.1:8080/v1",
        api_key=connection.api_key() or "not-needed",
        timeout=params.timeout_seconds or connection.timeout_seconds,
        max_retries=0,
        temperature=params.temperature,
        max_tokens=params.max_tokens,
        client_params={"http_client": _openai.http_client(None)},
    )
    built.focal_finish_ends_stream = not connection.stream_usage
    built.focal_provider = model.provider
    return built


def map_error(exc: BaseException, model: ModelInfo, *, mid_stream: bool = False) -> ProviderError:
    """The llama.cpp server speaks OpenAI's protocol through the OpenAI SDK: OpenAI's mapping."""
    return _openai.map_error(exc, model, mid_stream=mid_stream)
