"""A loopback fake LLM provider with scripted faults, for driving the REAL provider SDKs in tests.

`FakeProviderServer` is a small HTTP/1.1 server on asyncio streams (127.0.0.1, a free port). It speaks
three wire formats well enough for the openai, anthropic and ollama Python clients (used through
Agno's model classes):

============  ===========================================  ==================================  ==============
format        paths                                        streaming                           request id
============  ===========================================  ==================================  ==============
OpenAI        ``POST /v1/chat/completions`` (and            SSE ``data: {...}``, a finish        ``x-request-id``
              ``/chat/completions``)                       chunk, a usage chunk when
                                                           ``stream_options.include_usage``,
                                                           ``data: [DONE]``
Anthropic     ``POST /v1/messages`` (and ``/messages``)     SSE ``event:``/``data:`` message_    ``request-id``
                                                           start ... message_stop
Ollama        ``POST /api/chat``                            NDJSON, last line ``done: true``     (none)
============  ===========================================  ==================================  ==============

Base URL per SDK (``server.base_url`` is ``http://127.0.0.1:PORT``, no path):

- OpenAI / llama.cpp (``OpenAIChat``, ``LlamaCpp``; ``FOCAL_OPENAI_BASE_URL`` / ``FOCAL_LOCAL_BASE_URL``):
  ``server.base_url + "/v1"`` (also ``server.openai_base_url``) -- the SDK appends ``/chat/completions``.
- Anthropic (``Claude``, ``FOCAL_ANTHROPIC_BASE_URL``): ``server.base_url`` -- the SDK appends ``/v1/messages``.
- Ollama (``Ollama(host=...)``, ``FOCAL_OLLAMA_BASE_URL``): ``server.base_url`` -- the client appends ``/api/chat``.

``server.focal_env()`` returns all four ``FOCAL_*_BASE_URL`` variables (set them with ``monkeypatch.setenv``;
the SDKs also want ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``, any value).

Every request pops the next scripted behaviour (FIFO; an OK answer when the script is empty) and is
recorded in ``server.requests`` (method, path, headers, raw body, parsed JSON), so tests can count
attempts and see which model was asked::

    async with FakeProviderServer() as server:
        server.script(Reply.error(429, headers={"retry-after": "2"}), Reply.ok("hi"))
        ...
        assert server.models_requested() == ["gpt-4o-mini", "gpt-4o-mini"]

Behaviours (each works for all three formats, streamed or not, unless noted):

- ``Reply.ok(text, usage=(input, output, cached[, reasoning]))``: a normal answer.
- ``Reply.error(status, headers=..., error_type=..., code=..., message=...)``: an HTTP error with a
  JSON body in the provider's own error format. Shortcuts: ``Reply.rate_limited(retry_after=...)``,
  ``Reply.context_window_exceeded()``, ``Reply.overloaded()`` (Anthropic 529).
- ``Reply.reset()``: close the socket without answering (SO_LINGER 0, so the client sees a TCP RST).
- ``Reply.hang(seconds)``: accept the request and say nothing (client timeout), then close.
- ``Reply.slow_first_token(seconds)``: wait before the first stream chunk (before the whole answer when
  not streaming), then answer normally.
- ``Reply.cut(after_chunks, rst=True)``: stream some content chunks, then drop the connection in the
  middle of the chunked body (RST; ``rst=False`` closes with a FIN instead). Not streaming: half the body.
- ``Reply.stall(after_chunks, seconds)``: stream some chunks, go silent for ``seconds``, then finish the
  stream normally if the client is still there.
- ``Reply.malformed(after_chunks)``: a ``data: {not json`` event (Ollama: a ``{not json`` line)
  mid-stream, then the rest of the stream. Not streaming: a 200 whose JSON body is broken.
- ``Reply.no_terminator()``: the content chunks but no end marker (OpenAI: no finish_reason chunk, usage
  or ``[DONE]``; Anthropic: no content_block_stop / message_delta / message_stop; Ollama: no
  ``done: true`` line), then the HTTP body ends cleanly.
- ``Reply.cut_after_finish(close="clean"|"fin"|"rst")``: the content and the event that says the answer is
  finished, then nothing more (OpenAI: the ``finish_reason`` chunk, but not the usage chunk nor
  ``[DONE]``; Anthropic: ``content_block_stop`` and ``message_delta`` with the ``stop_reason``, but not
  ``message_stop``; Ollama: its ``done: true`` line is both, so the stream is whole). ``close="clean"``
  ends the HTTP body properly (the SDKs then end the stream without an error), ``"fin"`` / ``"rst"``
  drop the connection mid-body. Streams only (a non-streamed request gets a normal answer).
- ``Reply.error_event(after_chunks)``: an error reported inside a 200 stream (OpenAI ``data: {"error":
  ...}``, Anthropic ``event: error``, Ollama ``{"error": ...}``), after some chunks. Streams only;
  ``no_terminator`` is also streams only (a non-streamed request gets a normal answer).
- ``Reply.content_filter()``: OpenAI ``finish_reason: "content_filter"``, Anthropic
  ``stop_reason: "refusal"`` (Ollama has no such signal; it answers ``done_reason: "stop"``).

The server shuts down cleanly on ``__aexit__``: it stops listening, aborts open connections and awaits
every connection task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

from focal.providers import aclose_model
from tests.fakes.provider_replies import ANTHROPIC, OLLAMA, OPENAI, Reply
from tests.fakes.provider_wire import (
    complete_body,
    error_body,
    error_event_chunk,
    format_of,
    malformed_chunk,
    stream_events,
)

__all__ = ["FakeProviderServer", "RecordedRequest", "Reply", "close_clients"]  # `Reply` lives in provider_replies


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


@dataclass
class RecordedRequest:
    """One HTTP request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    format: str | None
    request_id: str

    @property
    def model(self) -> str | None:
        return self.json.get("model") if isinstance(self.json, dict) else None

    @property
    def stream(self) -> bool:
        if not isinstance(self.json, dict):
            return False
        if self.format == OLLAMA:
            return self.json.get("stream", True) is not False  # Ollama streams unless told not to
        return bool(self.json.get("stream"))

    def __getitem__(self, key: str) -> Any:  # dict-style access for older tests
        return getattr(self, key)


async def close_clients(*models: Any) -> None:
    """Close the HTTP clients the SDKs opened for these Agno models (their keep-alive connections to the
    fake server would otherwise be left to the garbage collector, with ResourceWarnings)."""
    for model in models:
        await aclose_model(model)


class _Closed(Exception):
    """The connection is finished (the behaviour closed or aborted it)."""


class FakeProviderServer:
    """See the module docstring. Use as `async with FakeProviderServer() as server:`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.errors: list[BaseException] = []
        """Bugs of the server itself (a request it could not parse or answer); tests may assert it is empty."""
        self.honours_stream_usage = True
        """False: behave like an OpenAI-compatible server that ignores `stream_options.include_usage`."""

    # --- public API ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For the OpenAI SDK (and llama.cpp through it): the `/v1` prefix is part of its base URL."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def ollama_host(self) -> str:
        return self.base_url

    def focal_env(self) -> dict[str, str]:
        """The `FOCAL_<PROVIDER>_BASE_URL` variables that aim every registry provider at this server."""
        return {
            "FOCAL_OPENAI_BASE_URL": self.openai_base_url,
            "FOCAL_ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "FOCAL_OLLAMA_BASE_URL": self.ollama_host,
            "FOCAL_LOCAL_BASE_URL": self.openai_base_url,
        }

    def script(self, *behaviours: Reply) -> None:
        """Queue behaviours for the next requests (FIFO)."""
        self._script.extend(behaviours)

    @property
    def pending(self) -> int:
        """Scripted behaviours not used yet."""
        return len(self._script)

    def models_requested(self) -> list[str | None]:
        """The `model` field of every request, in order (one entry per HTTP attempt)."""
        return [r.model for r in self.requests]

    async def __aenter__(self) -> FakeProviderServer:
        self._server = await asyncio.start_server(self._on_connection, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop listening, abort open connections, and wait for every connection task."""
        if self._server is None:
            return
        self._server.close()
        tasks = list(self._connections)
        for task, writer in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # --- HTTP plumbing ---------------------------------------------------------------------------

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:  # keep-alive: several requests per connection
                request = await self._read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                behaviour = self._script.popleft() if self._script else Reply.ok()
                await self._respond(request, behaviour, reader, writer)
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            # CancelledError: close() cancelled us; nothing awaits this task's cancellation but close().
            return
        except Exception as exc:  # a bug here must not vanish into asyncio's logger
            self.errors.append(exc)
            writer.transport.abort()
        finally:
            del self._connections[task]
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                body += await reader.readexactly(size)
                await reader.readline()
        try:
            parsed = json.loads(body) if body else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        path = target.split("?", 1)[0]
        return RecordedRequest(
            method=method,
            path=path,
            headers=headers,
            body=body,
            json=parsed,
            format=format_of(path),
            request_id=f"req_{len(self.requests) + 1}",
        )

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @staticmethod
    def _id_header(request: RecordedRequest) -> dict[str, str]:
        if request.format == OPENAI:
            return {"x-request-id": request.request_id}
        if request.format == ANTHROPIC:
            return {"request-id": request.request_id}
        return {}

    async def _send_json(
        self,
        writer: asyncio.StreamWriter,
        request: RecordedRequest,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        *,
        cut: bool = False,
        rst: bool = True,
    ) -> None:
        body = json.dumps(payload).encode()
        head = {"content-type": "application/json", "content-length": str(len(body)), **self._id_header(request)}
        head.update(headers or {})
        if cut:  # promise the whole body, send half of it, then drop the connection
            writer.write(self._head(status, head) + body[: len(body) // 2])
            await writer.drain()
            await self._drop(writer, rst=rst)
        writer.write(self._head(status, head) + body)
        await writer.drain()

    async def _drip_json(
        self, writer: asyncio.StreamWriter, request: RecordedRequest, payload: Any, seconds: float
    ) -> None:
        """Leading whitespace (valid JSON) a byte every 0.1 s for `seconds`, then the body."""
        pad = b" " * max(1, round(seconds / 0.1))
        body = pad + json.dumps(payload).encode()
        head = {"content-type": "application/json", "content-length": str(len(body)), **self._id_header(request)}
        writer.write(self._head(200, head))
        await writer.drain()
        for i in range(len(pad)):
            writer.write(body[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(body[len(pad) :])
        await writer.drain()

    @staticmethod
    async def _drop(writer: asyncio.StreamWriter, *, rst: bool = True, settle: bool = True) -> None:
        """End the connection abruptly: RST (SO_LINGER 0) or a bare FIN mid-message."""
        if settle:
            await asyncio.sleep(0.02)  # let the client read what was sent before the connection dies
        if rst:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()
        raise _Closed

    @staticmethod
    async def _silence(reader: asyncio.StreamReader, seconds: float) -> bool:
        """Wait `seconds` unless the client closes first. True if the client is still there."""
        try:
            data = await asyncio.wait_for(reader.read(1), seconds)
        except TimeoutError:
            return True
        except ConnectionError:
            return False
        return bool(data)  # b"" is EOF: the client gave up

    # --- behaviours ------------------------------------------------------------------------------

    async def _respond(
        self, request: RecordedRequest, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        fmt = request.format
        if fmt is None or request.method != "POST":
            await self._send_json(
                writer, request, 404, {"error": {"message": f"no route for {request.method} {request.path}"}}
            )
            return
        if reply.kind == "reset":
            await self._drop(writer, rst=True, settle=False)
        if reply.kind == "hang":
            await self._silence(reader, reply.delay)
            await self._drop(writer, rst=False, settle=False)
        if reply.kind == "status":
            await self._send_json(writer, request, reply.status, error_body(fmt, reply), reply.headers)
            return
        model = request.model or "unknown"
        if not request.stream:
            if reply.kind in ("slow", "stall") and not await self._silence(reader, reply.delay):
                raise _Closed
            if reply.kind == "malformed":  # a 200 whose JSON body is broken
                body = b'{"id": "broken", not json'
                head = {"content-type": "application/json", "content-length": str(len(body))}
                writer.write(self._head(200, {**head, **self._id_header(request)}) + body)
                await writer.drain()
                return
            payload = complete_body(fmt, model, reply)
            if reply.kind == "drip":
                await self._drip_json(writer, request, payload, reply.delay)
                return
            await self._send_json(writer, request, 200, payload, cut=reply.kind == "cut", rst=reply.rst)
            return
        await self._stream(request, fmt, model, reply, reader, writer)

    async def _stream(
        self,
        request: RecordedRequest,
        fmt: str,
        model: str,
        reply: Reply,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        ctype = "application/x-ndjson" if fmt == OLLAMA else "text/event-stream; charset=utf-8"
        head = {"content-type": ctype, "transfer-encoding": "chunked", "cache-control": "no-cache"}
        writer.write(self._head(200, {**head, **self._id_header(request)}))
        await writer.drain()

        async def send(data: bytes) -> None:
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()

        async def send_all(events: list[bytes]) -> None:
            for data in events:
                await send(data)

        include_usage = self.honours_stream_usage and bool(
            (request.json.get("stream_options") or {}).get("include_usage")
        )
        lead, content, end = stream_events(fmt, model, reply, include_usage)
        if reply.kind == "slow" and not await self._silence(reader, reply.delay):
            raise _Closed
        if reply.kind in ("cut", "stall", "malformed", "error_event"):
            await send_all(lead + content[: reply.after_chunks])
            rest = content[reply.after_chunks :]
            if reply.kind == "cut":
                await self._drop(writer, rst=reply.rst)
            elif reply.kind == "stall":
                if not await self._silence(reader, reply.delay):
                    raise _Closed
                await send_all(rest + end)
            elif reply.kind == "malformed":
                await send(malformed_chunk(fmt))
                await send_all(rest + end)
            else:
                await send(error_event_chunk(fmt, reply))
        elif reply.kind == "no_terminator":
            await send_all(lead + content)
        elif reply.kind == "cut_after_finish":  # the finish event, but not the stream's end marker
            finished = {OPENAI: 1, ANTHROPIC: 2}.get(fmt, len(end))
            await send_all(lead + content + end[:finished])
            if not reply.clean:
                await self._drop(writer, rst=reply.rst)
        else:
            await send_all(lead + content + end)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
