"""The local model's shims, checked on what reaches the server: `llama_cpp.server` refuses OpenAI's
`json_schema` response format, drops `role: "tool"` messages and ignores tools without `tool_choice="auto"`
(see `focal.providers._local`). Each shim on every invoke path Agno may take, against the fake server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from agno.agent import Agent
from agno.models.message import Message
from pydantic import BaseModel

from focal.providers import CallParams, _local
from focal.routing import ModelInfo, ProviderConnection, ProviderKind, Tier
from tests.fakes.provider_server import FakeProviderServer, Reply, close_clients

SMOL = ModelInfo(
    id="smollm2-135m-instruct",
    provider="local",
    tier=Tier.CHEAP,
    input_cost_per_million=Decimal(0),
    output_cost_per_million=Decimal(0),
    context_window=2048,
    max_output_tokens=256,
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Berlin"}'}}


class City(BaseModel):
    city: str
    country: str


@pytest.fixture
async def server() -> AsyncIterator[FakeProviderServer]:
    async with FakeProviderServer() as fake:
        yield fake


def _model(server: FakeProviderServer, path: str = "ainvoke") -> Any:
    """The model Focal builds; for the sync paths (which Focal does not use: its HTTP client is async)
    the same shim class with the SDK's own sync client."""
    if not path.startswith("a"):
        return _local.LlamaCppServer(id=SMOL.id, base_url=server.openai_base_url, api_key="x", max_retries=0)
    connection = ProviderConnection(
        name="local", kind=ProviderKind.LOCAL, base_url_default=server.openai_base_url, stream_usage=False
    )
    return _local.build(SMOL, connection, CallParams(max_tokens=64))


async def _call(model: Any, path: str, messages: list[Message], **kwargs: Any) -> None:
    """One model request the way Agno makes it (keyword arguments), on the given path."""
    assistant = Message(role="assistant")
    if path == "ainvoke":
        await model.ainvoke(messages=messages, assistant_message=assistant, **kwargs)
    elif path == "ainvoke_stream":
        async for _ in model.ainvoke_stream(messages=messages, assistant_message=assistant, **kwargs):
            pass
    elif path == "invoke":
        await asyncio.to_thread(lambda: model.invoke(messages=messages, assistant_message=assistant, **kwargs))
    else:
        await asyncio.to_thread(
            lambda: list(model.invoke_stream(messages=messages, assistant_message=assistant, **kwargs))
        )


PATHS = ["ainvoke", "ainvoke_stream", "invoke", "invoke_stream"]


async def test_an_output_schema_is_sent_as_the_servers_json_object_grammar(server: FakeProviderServer) -> None:
    server.script(Reply.ok('{"city": "Paris", "country": "France"}'))
    model = _model(server)
    try:
        out = await Agent(model=model, output_schema=City, telemetry=False).arun("Describe Paris.")
    finally:
        await close_clients(model)
    sent = server.requests[0].json["response_format"]
    assert sent["type"] == "json_object"
    assert sent["schema"]["properties"].keys() == {"city", "country"}
    assert "json_schema" not in sent
    assert out.content == City(city="Paris", country="France")
    # the two free strings share the call's 64 tokens: the grammar closes the JSON before the cut
    assert [p["maxLength"] for p in sent["schema"]["properties"].values()] == [32, 32]


def test_free_strings_get_plain_bounded_patterns_and_the_callers_schema_is_left_alone() -> None:
    schema = {
        "type": "object",
        "properties": {
            "reply": {"type": "string"},
            "code": {"type": "string", "pattern": "^[A-Z]+$"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "short": {"type": "string", "minLength": 1, "maxLength": 5},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "$defs": {"Note": {"type": "object", "properties": {"text": {"type": "string"}}}},
    }
    out = _local.grammar_strings(schema, 300)
    props = out["properties"]
    assert props["reply"]["maxLength"] == props["tags"]["items"]["maxLength"] == 100  # 3 unbounded share 300
    assert out["$defs"]["Note"]["properties"]["text"]["maxLength"] == 100
    assert props["code"] == schema["properties"]["code"] and props["kind"] == schema["properties"]["kind"]
    assert props["short"]["maxLength"] == 5 and props["short"]["pattern"].endswith("{1,5}$")
    plain = re.compile(props["reply"]["pattern"])
    assert plain.fullmatch("Your order ORD-1001 ships today.")
    assert not plain.fullmatch("two\nlines") and not plain.fullmatch('a "quote"') and not plain.fullmatch("x" * 101)
    assert schema["properties"]["reply"] == {"type": "string"}  # a copy
    assert _local.grammar_strings(schema, 10)["properties"]["reply"]["maxLength"] == _local.MIN_STRING_CHARS
    assert _local.grammar_strings(schema, None)["properties"]["reply"]["pattern"].endswith("*$")  # no bound


@pytest.mark.parametrize("path", PATHS)
async def test_json_schema_becomes_json_object_on_every_path(server: FakeProviderServer, path: str) -> None:
    model = _model(server, path)
    try:
        await _call(model, path, [Message(role="user", content="Paris?")], response_format=City)
        await _call(model, path, [Message(role="user", content="Any JSON")], response_format={"type": "json_object"})
    finally:
        await close_clients(model)
    assert server.requests[0].json["response_format"]["type"] == "json_object"
    assert server.requests[0].json["response_format"]["schema"]["required"] == ["city", "country"]
    assert server.requests[1].json["response_format"] == {"type": "json_object"}  # left as it was


@pytest.mark.parametrize("path", PATHS)
async def test_tool_results_are_sent_as_user_messages(server: FakeProviderServer, path: str) -> None:
    model = _model(server, path)
    messages = [
        Message(role="user", content="Weather in Berlin?"),
        Message(role="assistant", tool_calls=[CALL]),
        Message(role="tool", tool_call_id="call_1", tool_name="get_weather", content='{"temp_c": 21}'),
    ]
    try:
        await _call(model, path, messages, tools=[WEATHER_TOOL])
    finally:
        await close_clients(model)
    sent = server.requests[0].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "get_weather" in sent[2]["content"] and '{"temp_c": 21}' in sent[2]["content"]
    assert [m.role for m in messages] == ["user", "assistant", "tool"]  # the run's own history is untouched


@pytest.mark.parametrize("path", PATHS)
async def test_tools_are_offered_with_auto_and_closed_after_a_tool_result(
    server: FakeProviderServer, path: str
) -> None:
    model = _model(server, path)
    question = [Message(role="user", content="Weather in Berlin?")]
    answered = [
        *question,
        Message(role="assistant", tool_calls=[CALL]),
        Message(role="tool", tool_call_id="call_1", tool_name="get_weather", content="21 C"),
    ]
    forced = {"type": "function", "function": {"name": "get_weather"}}
    try:
        await _call(model, path, question, tools=[WEATHER_TOOL])
        await _call(model, path, answered, tools=[WEATHER_TOOL])
        await _call(model, path, question, tools=[WEATHER_TOOL], tool_choice=forced)
        await _call(model, path, question)
    finally:
        await close_clients(model)
    choices = [r.json.get("tool_choice") for r in server.requests]
    assert choices == ["auto", "none", forced, None]
    assert "tools" not in server.requests[3].json


async def test_an_agent_tool_turn_offers_the_tool_with_auto(server: FakeProviderServer) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: the city.
        """
        return "21 C"

    server.script(Reply.ok("It is 21 C."))
    model = _model(server)
    try:
        out = await Agent(model=model, tools=[get_weather], telemetry=False).arun("Weather in Berlin?")
    finally:
        await close_clients(model)
    assert out.content == "It is 21 C."
    assert server.requests[0].json["tool_choice"] == "auto"
    assert server.requests[0].json["tools"][0]["function"]["name"] == "get_weather"
