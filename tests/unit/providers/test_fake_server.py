"""The loopback fake provider: its wire formats, scripting, recording and clean shutdown, checked with a
plain HTTP client and with the real SDKs (through Agno's model classes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from agno.agent import Agent
from agno.run.base import RunStatus

from focal.providers import CallParams, build_model, observe_call
from focal.routing import ModelRegistry
from tests.fakes.provider_server import FakeProviderServer, Reply, close_clients

OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_BODY = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
OLLAMA_BODY = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def server() -> AsyncIterator[FakeProviderServer]:
    async with FakeProviderServer() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
async def http(server: FakeProviderServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        yield client


def sse_data(text: str) -> list[Any]:
    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def sse_events(text: str) -> list[str]:
    return [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")]


# --- wire formats -------------------------------------------------------------------------------


async def test_openai_json_answer(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.ok("Hello.", usage=(100, 20, 60, 5)))
    r = await http.post("/v1/chat/completions", json=OPENAI_BODY)
    assert r.status_code == 200 and r.headers["x-request-id"] == "req_1"
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
    assert body["choices"][0]["message"]["content"] == "Hello." and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 100 and body["usage"]["completion_tokens"] == 20
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 60
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5


@pytest.mark.parametrize("include_usage", [True, False])
async def test_openai_stream(server: FakeProviderServer, http: httpx.AsyncClient, include_usage: bool) -> None:
    server.script(Reply.ok("Hello there.", usage=(10, 3, 0)))
    body = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": include_usage}}
    r = await http.post("/chat/completions", json=body)  # the path without /v1 is accepted too
    assert r.headers["content-type"].startswith("text/event-stream") and r.headers["x-request-id"] == "req_1"
    data = sse_data(r.text)
    assert data[-1] == "[DONE]"
    chunks = data[:-1]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello there."
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "stop"
    usage = [c for c in chunks if c.get("usage")]
    if include_usage:  # the usage chunk comes after the finish chunk, with no choices
        assert chunks[-1] is usage[0] and usage[0]["choices"] == [] and usage[0]["usage"]["completion_tokens"] == 3
    else:
        assert usage == []


async def test_anthropic_stream_event_sequence(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.ok("Hi.", usage=(50, 4, 30)))
    r = await http.post("/v1/messages", json={**ANTHROPIC_BODY, "stream": True})
    assert r.headers["request-id"] == "req_1"
    events = sse_events(r.text)
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    data = sse_data(r.text)
    assert data[0]["message"]["usage"] == {
        "input_tokens": 20,
        "output_tokens": 1,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 0,
    }
    assert "".join(d["delta"]["text"] for d in data if d["type"] == "content_block_delta") == "Hi."
    delta = next(d for d in data if d["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"] == {"output_tokens": 4}


async def test_ollama_ndjson_and_json(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.ok("Yo.", usage=(9, 2, 0)), Reply.ok("Plain."))
    r = await http.post("/api/chat", json=OLLAMA_BODY)  # Ollama streams unless told not to
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert r.headers["content-type"] == "application/x-ndjson"
    assert all(not line["done"] for line in lines[:-1]) and lines[-1]["done"] is True
    assert (lines[-1]["prompt_eval_count"], lines[-1]["eval_count"], lines[-1]["done_reason"]) == (9, 2, "stop")
    assert "".join(line["message"]["content"] for line in lines) == "Yo."
    r = await http.post("/api/chat", json={**OLLAMA_BODY, "stream": False})
    assert r.json()["message"]["content"] == "Plain." and r.json()["done"] is True
    assert [req.stream for req in server.requests] == [True, False]


async def test_error_bodies_in_each_providers_format(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.rate_limited("2"), Reply.context_window_exceeded(), Reply.overloaded(), Reply.error(500))
    r = await http.post("/v1/chat/completions", json=OPENAI_BODY)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    r = await http.post("/v1/chat/completions", json=OPENAI_BODY)
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    r = await http.post("/v1/messages", json=ANTHROPIC_BODY)
    assert r.status_code == 529 and r.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    r = await http.post("/api/chat", json=OLLAMA_BODY)
    assert r.status_code == 500 and set(r.json()) == {"error"}


async def test_unknown_route_is_404(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    assert (await http.post("/v1/embeddings", json={})).status_code == 404
    assert (await http.get("/api/tags")).status_code == 404


# --- scripting and recording -------------------------------------------------------------------


async def test_script_is_fifo_then_defaults_to_ok(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.error(503), Reply.ok("second"))
    assert server.pending == 2
    assert (await http.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 503
    assert (await http.post("/v1/chat/completions", json=OPENAI_BODY)).json()["choices"][0]["message"]["content"] == (
        "second"
    )
    default = await http.post("/v1/chat/completions", json={**OPENAI_BODY, "model": "gpt-4o"})
    assert default.status_code == 200 and server.pending == 0
    assert server.models_requested() == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    last = server.requests[-1]
    assert (last.method, last.path, last.format, last.request_id) == ("POST", "/v1/chat/completions", "openai", "req_3")
    assert last.headers["content-type"] == "application/json" and last.json["messages"][0]["content"] == "hi"
    assert last["json"] is last.json  # dict-style access still works


async def test_no_terminator_ends_the_body_cleanly(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.no_terminator("abc"), Reply.no_terminator("abc"), Reply.no_terminator("abc"))
    r = await http.post("/v1/chat/completions", json={**OPENAI_BODY, "stream": True})
    assert "[DONE]" not in r.text and '"finish_reason": "stop"' not in r.text and "abc"[0] in r.text
    r = await http.post("/v1/messages", json={**ANTHROPIC_BODY, "stream": True})
    assert "message_stop" not in sse_events(r.text) and "message_delta" not in sse_events(r.text)
    r = await http.post("/api/chat", json=OLLAMA_BODY)
    assert all(json.loads(line)["done"] is False for line in r.text.splitlines())


async def test_cut_after_finish_sends_the_finish_event_but_not_the_end(
    server: FakeProviderServer, http: httpx.AsyncClient
) -> None:
    server.script(*[Reply.cut_after_finish("abc")] * 3, Reply.cut_after_finish("abc", close="rst"))
    body = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": True}}
    r = await http.post("/v1/chat/completions", json=body)  # "clean": the body ends properly
    chunks = sse_data(r.text)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "[DONE]" not in chunks and not any(c.get("usage") for c in chunks)  # no usage chunk, no [DONE]
    r = await http.post("/v1/messages", json={**ANTHROPIC_BODY, "stream": True})
    assert sse_events(r.text)[-2:] == ["content_block_stop", "message_delta"]  # no message_stop
    r = await http.post("/api/chat", json=OLLAMA_BODY)  # Ollama's finish line is its end: a whole stream
    assert json.loads(r.text.splitlines()[-1])["done"] is True
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await http.post("/v1/chat/completions", json=body)
    assert server.pending == 0


async def test_cut_and_malformed_streams_on_the_wire(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.cut(after_chunks=1), Reply.malformed(after_chunks=1))
    received: list[bytes] = []
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        async with http.stream("POST", "/v1/chat/completions", json={**OPENAI_BODY, "stream": True}) as r:
            async for piece in r.aiter_bytes():
                received.append(piece)
    assert b"data: " in b"".join(received)
    r = await http.post("/v1/chat/completions", json={**OPENAI_BODY, "stream": True})
    assert "data: {not json" in r.text and r.text.endswith("data: [DONE]\n\n")


async def test_stall_then_finish_when_the_client_waits(server: FakeProviderServer, http: httpx.AsyncClient) -> None:
    server.script(Reply.stall(after_chunks=1, seconds=0.1, text="patience pays"))
    r = await http.post("/api/chat", json=OLLAMA_BODY)
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == "patience pays" and lines[-1]["done"]


# --- shutdown ----------------------------------------------------------------------------------


async def test_close_with_requests_in_flight_leaves_nothing_behind() -> None:
    before = asyncio.all_tasks()
    async with FakeProviderServer() as server, httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as http:
        server.script(Reply.hang(30.0), Reply.stall(after_chunks=1, seconds=30.0))
        hanging = asyncio.create_task(http.post("/v1/chat/completions", json=OPENAI_BODY))
        stalled = asyncio.create_task(http.post("/v1/messages", json={**ANTHROPIC_BODY, "stream": True}))
        while len(server.requests) < 2:
            await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        await server.close()  # the with block's exit then has nothing left to do
        assert asyncio.get_running_loop().time() - started < 1.0
        for task in (hanging, stalled):
            with pytest.raises(httpx.TransportError):
                await task
    assert asyncio.all_tasks() - before == set()


# --- through the real SDKs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "path", "usage"),
    [
        # (input, output, cache read, reasoning) as Agno reports them; Anthropic's input excludes the cache
        ("openai:cheap", "/v1/chat/completions", (1200, 30, 1000, 12)),
        ("anthropic:cheap", "/v1/messages", (200, 30, 1000, 0)),
        ("ollama:cheap", "/api/chat", (1200, 30, 0, 0)),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_real_sdks_get_answers_and_usage(
    server: FakeProviderServer,
    registry: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    ref: str,
    path: str,
    usage: tuple[int, int, int, int],
    stream: bool,
) -> None:
    for name, value in server.focal_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    info = registry.parse_ref(ref)
    server.script(Reply.ok("From the fake.", usage=(1200, 30, 1000, 12)))
    model = build_model(info, registry, CallParams(timeout_seconds=2.0))
    agent = Agent(model=model, telemetry=False)
    with observe_call() as obs:
        if stream:
            out = None
            async for event in agent.arun("hello", stream=True, yield_run_output=True):
                if type(event).__name__ == "RunOutput":
                    out = event
        else:
            out = await agent.arun("hello")
    await close_clients(model)
    assert out is not None and out.status == RunStatus.completed and out.content == "From the fake."
    m = out.metrics
    assert (m.input_tokens, m.output_tokens, m.cache_read_tokens, m.reasoning_tokens) == usage
    assert obs.stream_terminated == stream and obs.finish_reason in ("stop", "end_turn")
    (request,) = server.requests
    assert request.path == path and request.model == info.id and request.stream == stream
    if ref.startswith("openai") and stream:
        assert request.json["stream_options"] == {"include_usage": True}
