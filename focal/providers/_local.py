"""The local llama.cpp OpenAI-compatible server via Agno's `LlamaCpp` (the OpenAI SDK underneath).

Same wire format and raw objects as `_openai` (ChatCompletion / ChatCompletionChunk), so the same error
mapping and response hook apply. llama.cpp sends no request id header.

A stream's end marker: the usage chunk when the server sends one (`stream_usage: true` on the provider),
else the finish_reason chunk -- the default here, since llama-cpp-python's server has not always sent the
usage chunk Agno asks for (`stream_options.include_usage`).

`python -m llama_cpp.server --chat_format chatml-function-calling` (what `focal.local` starts) differs from
OpenAI in three ways that `LlamaCppServer` bridges, on the sync and async paths alike:

- it refuses OpenAI's `response_format={"type": "json_schema", ...}` (HTTP 500) but turns its own
  `{"type": "json_object", "schema": ...}` into a grammar: structured output is sent that way;
- its chat template drops `role: "tool"` messages: tool results are sent as user messages;
- it ignores tools unless `tool_choice` is `"auto"` (a missing choice means `"none"` there): tools go with
  `"auto"` unless the caller chose, and with `"none"` once a tool result is the last message (a tiny model
  otherwise calls the tool again and again).
"""

from __future__ import annotations

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


def server_response_format(params: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `json_schema` response format -> the server's `json_object` with the schema (a grammar)."""
    response_format = params.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        params["response_format"] = {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    return params


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
        return server_response_format(super().get_request_params(*args, **kwargs))

    @staticmethod
    def _server_call(messages: list[Message], kwargs: dict[str, Any]) -> tuple[list[Message], dict[str, Any]]:
        """An `invoke*` call's messages and keyword arguments as the server needs them (Agno passes keywords)."""
        kwargs = dict(kwargs)
        kwargs["tool_choice"] = server_tool_choice(messages, kwargs.get("tools"), kwargs.get("tool_choice"))
        return server_messages(messages, bool(kwargs.get("compress_tool_results"))), kwargs

    def invoke(self, messages: list[Message], assistant_message: Message, **kwargs: Any) -> Any:
        messages, kwargs = self._server_call(messages, kwargs)
        return super().invoke(messages, assistant_message, **kwargs)

    async def ainvoke(self, messages: list[Message], assistant_message: Message, **kwargs: Any) -> Any:
        messages, kwargs = self._server_call(messages, kwargs)
        return await super().ainvoke(messages, assistant_message, **kwargs)

    def invoke_stream(self, messages: list[Message], assistant_message: Message, **kwargs: Any) -> Iterator[Any]:
        messages, kwargs = self._server_call(messages, kwargs)
        yield from super().invoke_stream(messages, assistant_message, **kwargs)

    async def ainvoke_stream(
        self, messages: list[Message], assistant_message: Message, **kwargs: Any
    ) -> AsyncIterator[Any]:
        messages, kwargs = self._server_call(messages, kwargs)
        async for item in super().ainvoke_stream(messages, assistant_message, **kwargs):
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
