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
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakeProviderServer", "RecordedRequest", "Reply", "close_clients"]

OPENAI, ANTHROPIC, OLLAMA = "openai", "anthropic", "ollama"

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

# (OpenAI error type, Anthropic error type) per status, as the real APIs send them.
_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "authentication_error"),
    403: ("invalid_request_error", "permission_error"),
    404: ("invalid_request_error", "not_found_error"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
    500: ("server_error", "api_error"),
    503: ("server_error", "api_error"),
    529: ("server_error", "overloaded_error"),
}

_CONTEXT_MESSAGES = {
    OPENAI: "This model's maximum context length is 128000 tokens. However, your messages resulted in "
    "131072 tokens. Please reduce the length of the messages.",
    ANTHROPIC: "prompt is too long: 210000 tokens > 200000 maximum",
    OLLAMA: "the input length exceeds the context length",
}


@dataclass(frozen=True)
class Reply:
    """One scripted behaviour. Build it with the classmethods; see the module docstring."""

    kind: str = "ok"
    text: str = "Hello from the fake provider."
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
    error_code: str | None = None
    message: str | None = None
    delay: float = 0.0
    after_chunks: int = 2
    chunks: int = 4
    finish_reason: str | None = None
    filtered: bool = False
    rst: bool = True
    clean: bool = False
    """`cut_after_finish`: end the HTTP body properly instead of dropping the connection."""
    usage: tuple[int, ...] = (42, 7, 0)
    """(input tokens incl. cached and cache writes, output tokens, cached input tokens[, reasoning
    tokens[, cache-write tokens (Anthropic)]])"""

    # --- answers ---------------------------------------------------------------------------------

    @classmethod
    def ok(
        cls,
        text: str = "Hello from the fake provider.",
        *,
        usage: tuple[int, ...] = (42, 7, 0),
        finish_reason: str | None = None,
        chunks: int = 4,
    ) -> Reply:
        """A normal answer; streamed in `chunks` content pieces. `finish_reason` is sent verbatim."""
        return cls("ok", text=text, usage=usage, finish_reason=finish_reason, chunks=chunks)

    @classmethod
    def content_filter(cls, text: str = "") -> Reply:
        """OpenAI `finish_reason: content_filter`, Anthropic `stop_reason: refusal`."""
        return cls("ok", text=text, filtered=True)

    # --- HTTP errors -----------------------------------------------------------------------------

    @classmethod
    def error(
        cls,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        error_type: str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> Reply:
        """An HTTP error with the provider's JSON error body (OpenAI `{"error": {message, type, param,
        code}}`, Anthropic `{"type": "error", "error": {type, message}}`, Ollama `{"error": message}`)."""
        return cls(
            "status",
            status=status,
            headers=dict(headers or {}),
            error_type=error_type,
            error_code=code,
            message=message,
        )

    @classmethod
    def rate_limited(cls, retry_after: str | None = "2", *, retry_after_ms: str | None = None) -> Reply:
        """429 with `retry-after` (seconds or an HTTP date) and/or `retry-after-ms`."""
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        return cls.error(429, headers=headers, code="rate_limit_exceeded", message="Rate limit reached. Slow down.")

    @classmethod
    def context_window_exceeded(cls) -> Reply:
        """400 as each provider says it: OpenAI code `context_length_exceeded`, Anthropic "prompt is too
        long", Ollama a plain message."""
        return cls.error(400, code="context_length_exceeded", message=None, error_type="invalid_request_error")

    @classmethod
    def overloaded(cls) -> Reply:
        """Anthropic's 529 `overloaded_error` (other formats get a 529 in their own error shape)."""
        return cls.error(529, error_type="overloaded_error", message="Overloaded")

    # --- transport faults ------------------------------------------------------------------------

    @classmethod
    def reset(cls) -> Reply:
        """Close the connection without answering (TCP RST)."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Accept the request and say nothing for `seconds` (or until the client gives up), then close."""
        return cls("hang", delay=seconds)

    @classmethod
    def slow_first_token(cls, seconds: float, text: str = "Slow but complete.") -> Reply:
        """Wait `seconds` before the first stream chunk (the response headers go out at once), then answer."""
        return cls("slow", delay=seconds, text=text)

    @classmethod
    def cut(
        cls, after_chunks: int = 2, text: str = "This answer will be cut in the middle.", *, rst: bool = True
    ) -> Reply:
        """Stream `after_chunks` content chunks, then drop the connection in the middle of the body."""
        return cls("cut", after_chunks=after_chunks, text=text, rst=rst)

    @classmethod
    def stall(cls, after_chunks: int = 2, seconds: float = 5.0, text: str = "This answer stalls.") -> Reply:
        """Stream `after_chunks` chunks, go silent for `seconds`, then finish if the client is still there."""
        return cls("stall", after_chunks=after_chunks, delay=seconds, text=text)

    @classmethod
    def malformed(cls, after_chunks: int = 2, text: str = "This answer has a broken chunk.") -> Reply:
        """A chunk that is not JSON after `after_chunks` good ones, then the rest of the stream."""
        return cls("malformed", after_chunks=after_chunks, text=text)

    @classmethod
    def no_terminator(cls, text: str = "This answer never says it is finished.") -> Reply:
        """Stream the content but no end marker, then end the HTTP body cleanly."""
        return cls("no_terminator", text=text)

    @classmethod
    def cut_after_finish(
        cls, text: str = "This answer is finished, but the stream is not.", *, close: str = "clean"
    ) -> Reply:
        """Stream the content and the finish event, then stop before the stream's end marker (OpenAI: before
        the usage chunk and `[DONE]`; Anthropic: before `message_stop`). `close`: "clean" ends the HTTP
        body properly, "fin" / "rst" drop the connection mid-body."""
        if close not in ("clean", "fin", "rst"):
            raise ValueError(f"close must be 'clean', 'fin' or 'rst', not {close!r}")
        return cls("cut_after_finish", text=text, rst=close == "rst", clean=close == "clean")

    @classmethod
    def error_event(
        cls, after_chunks: int = 2, *, error_type: str = "overloaded_error", message: str = "Overloaded"
    ) -> Reply:
        """A 200 stream that reports an error in-band after `after_chunks` chunks, then ends."""
        return cls("error_event", after_chunks=after_chunks, error_type=error_type, message=message)

    # --- rendering helpers -----------------------------------------------------------------------

    def pieces(self) -> list[str]:
        n = max(1, self.chunks)
        size = max(1, -(-len(self.text) // n))
        return [self.text[i : i + size] for i in range(0, len(self.text), size)] or [""]

    def tokens(self) -> tuple[int, int, int, int]:
        values = (*self.usage, 0, 0, 0, 0)
        return values[0], values[1], values[2], values[3]

    def cache_writes(self) -> int:
        """Input tokens written to the prompt cache (Anthropic reports them apart from input)."""
        return self.usage[4] if len(self.usage) > 4 else 0

    def finish(self, fmt: str) -> str:
        if self.filtered:
            return {OPENAI: "content_filter", ANTHROPIC: "refusal"}.get(fmt, "stop")
        if self.finish_reason:
            return self.finish_reason
        return "end_turn" if fmt == ANTHROPIC else "stop"


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
        for attr in ("async_client", "client"):
            http = getattr(getattr(model, attr, None), "_client", None)  # the SDK's httpx / httpx2 client
            if http is None:
                continue
            if hasattr(http, "aclose"):
                await http.aclose()
            elif hasattr(http, "close"):
                http.close()


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
            format=_format_of(path),
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
            await self._send_json(writer, request, reply.status, _error_body(fmt, reply), reply.headers)
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
            payload = _complete(fmt, model, reply)
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
        lead, content, end = _stream_events(fmt, model, reply, include_usage)
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
                await send(_malformed(fmt))
                await send_all(rest + end)
            else:
                await send(_error_event(fmt, reply))
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


# --- wire formats ------------------------------------------------------------------------------


def _format_of(path: str) -> str | None:
    if path in ("/v1/chat/completions", "/chat/completions"):
        return OPENAI
    if path in ("/v1/messages", "/messages"):
        return ANTHROPIC
    if path == "/api/chat":
        return OLLAMA
    return None


def _error_body(fmt: str, reply: Reply) -> Any:
    openai_type, anthropic_type = _ERROR_TYPES.get(
        reply.status, ("server_error", "api_error") if reply.status >= 500 else ("invalid_request_error",) * 2
    )
    if reply.error_code == "context_length_exceeded" and reply.message is None:
        message = _CONTEXT_MESSAGES[fmt]
    else:
        message = reply.message or f"scripted failure (HTTP {reply.status})"
    if fmt == ANTHROPIC:
        return {"type": "error", "error": {"type": reply.error_type or anthropic_type, "message": message}}
    if fmt == OLLAMA:
        return {"error": message}
    return {
        "error": {"message": message, "type": reply.error_type or openai_type, "param": None, "code": reply.error_code}
    }


def _complete(fmt: str, model: str, reply: Reply) -> Any:
    prompt, completion, cached, _ = reply.tokens()
    if fmt == ANTHROPIC:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.finish(fmt),
            "stop_sequence": None,
            "usage": {
                # Anthropic reports cache reads and writes apart from the (remaining) input
                "input_tokens": prompt - cached - reply.cache_writes(),
                "output_tokens": completion,
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": reply.cache_writes(),
            },
        }
    if fmt == OLLAMA:
        return {
            "model": model,
            "created_at": "2026-11-22T00:00:00Z",
            "message": {"role": "assistant", "content": reply.text},
            "done": True,
            "done_reason": reply.finish(fmt),
            "total_duration": 1_000_000,
            "load_duration": 1000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 1000,
            "eval_count": completion,
            "eval_duration": 1000,
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "logprobs": None,
                "finish_reason": reply.finish(fmt),
            }
        ],
        "usage": _openai_usage(reply),
        "system_fingerprint": "fp_fake",
    }


def _openai_usage(reply: Reply) -> dict[str, Any]:
    prompt, completion, cached, reasoning = reply.tokens()
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n".encode()


def _stream_events(
    fmt: str, model: str, reply: Reply, include_usage: bool
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(preamble, content events, end events) as wire bytes."""
    prompt, completion, cached, _ = reply.tokens()
    pieces = reply.pieces()
    if fmt == ANTHROPIC:
        message: dict[str, Any] = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": prompt - cached - reply.cache_writes(),
                "output_tokens": 1,
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": reply.cache_writes(),
            },
        }
        lead = [
            _sse({"type": "message_start", "message": message}, "message_start"),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        content = [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                "content_block_delta",
            )
            for piece in pieces
        ]
        end = [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.finish(fmt), "stop_sequence": None},
                    "usage": {"output_tokens": completion},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return lead, content, end
    if fmt == OLLAMA:

        def line(data: dict[str, Any]) -> bytes:
            return (json.dumps(data) + "\n").encode()

        base = {"model": model, "created_at": "2026-11-22T00:00:00Z"}
        content = [line({**base, "message": {"role": "assistant", "content": p}, "done": False}) for p in pieces]
        last = _complete(fmt, model, reply)
        last["message"] = {"role": "assistant", "content": ""}
        return [], content, [line(last)]

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        data = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_790_000_000,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return _sse(data)

    lead = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    content = [chunk({"content": piece}, None) for piece in pieces]
    end = [chunk({}, reply.finish(fmt))]
    if include_usage:
        end.append(
            _sse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1_790_000_000,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": _openai_usage(reply),
                }
            )
        )
    end.append(b"data: [DONE]\n\n")
    return lead, content, end


def _malformed(fmt: str) -> bytes:
    if fmt == OLLAMA:
        return b"{not json\n"
    if fmt == ANTHROPIC:
        return b"event: content_block_delta\ndata: {not json\n\n"
    return b"data: {not json\n\n"


def _error_event(fmt: str, reply: Reply) -> bytes:
    message = reply.message or "scripted in-stream error"
    if fmt == OLLAMA:
        return (json.dumps({"error": message}) + "\n").encode()
    if fmt == ANTHROPIC:
        return _sse({"type": "error", "error": {"type": reply.error_type, "message": message}}, "error")
    return _sse({"error": {"message": message, "type": reply.error_type, "param": None, "code": reply.error_type}})
