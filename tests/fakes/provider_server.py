"""A loopback fake LLM provider speaking OpenAI, Anthropic and Ollama wire formats, with scripted faults.

The real SDKs (through Agno's model classes) talk to it over HTTP/1.1 on 127.0.0.1:

    async with FakeProviderServer() as server:
        server.script(Reply.status(429, headers={"retry-after": "2"}), Reply.ok("hi"))
        # OpenAI: base_url = server.base_url + "/v1"; Anthropic: server.base_url; Ollama: server.base_url

Each request pops the next scripted `Reply` (an OK answer when the script is empty) and is recorded in
`server.requests` (path, headers, JSON body) so tests can count attempts and see which model was asked.
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

__all__ = ["FakeProviderServer", "Reply"]


@dataclass
class Reply:
    """One scripted behaviour. Build with the classmethods."""

    kind: str = "ok"
    text: str = "Hello from the fake provider."
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
    error_code: str | None = None
    message: str = "scripted failure"
    delay: float = 0.0
    after_chunks: int = 2
    finish_reason: str | None = None
    usage: tuple[int, int, int] = (42, 7, 0)  # input, output, cached input

    @classmethod
    def ok(
        cls,
        text: str = "Hello from the fake provider.",
        *,
        usage: tuple[int, int, int] = (42, 7, 0),
        finish_reason: str | None = None,
    ) -> Reply:
        return cls("ok", text=text, usage=usage, finish_reason=finish_reason)

    @classmethod
    def error(
        cls,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        error_type: str | None = None,
        code: str | None = None,
        message: str = "scripted failure",
    ) -> Reply:
        return cls(
            "status", status=status, headers=headers or {}, error_type=error_type, error_code=code, message=message
        )

    @classmethod
    def reset(cls) -> Reply:
        """Close the connection without answering (TCP RST)."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Accept the request and say nothing for `seconds` (client timeout)."""
        return cls("hang", delay=seconds)

    @classmethod
    def slow_first_token(cls, seconds: float, text: str = "Slow but complete.") -> Reply:
        return cls("slow", delay=seconds, text=text)

    @classmethod
    def cut(cls, after_chunks: int = 2, text: str = "This answer will be cut in the middle.") -> Reply:
        """Stream some chunks, then drop the connection mid-body."""
        return cls("cut", after_chunks=after_chunks, text=text)

    @classmethod
    def stall(cls, after_chunks: int = 2, seconds: float = 5.0, text: str = "This answer stalls.") -> Reply:
        """Stream some chunks, then go silent."""
        return cls("stall", after_chunks=after_chunks, delay=seconds, text=text)

    @classmethod
    def malformed(cls, after_chunks: int = 2, text: str = "This answer has a broken chunk.") -> Reply:
        return cls("malformed", after_chunks=after_chunks, text=text)

    @classmethod
    def no_terminator(cls, text: str = "This answer never says it is finished.") -> Reply:
        """Stream the content but no end marker, then end the HTTP body cleanly."""
        return cls("no_terminator", text=text)

    @classmethod
    def content_filter(cls, text: str = "") -> Reply:
        return cls("ok", text=text, finish_reason="content_filter")


def _pieces(text: str, n: int = 4) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FakeProviderServer:
    """See the module docstring."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def models_requested(self) -> list[str | None]:
        return [r["json"].get("model") if isinstance(r["json"], dict) else None for r in self.requests]

    async def __aenter__(self) -> FakeProviderServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    # --- HTTP plumbing --------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = self._script.popleft() if self._script else Reply.ok()
                keep_open = await self._respond(request, reply, writer)
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._handlers.discard(task)
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> dict[str, Any] | None:
        line = await reader.readline()
        if not line:
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
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
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                body += await reader.readexactly(size)
                await reader.readline()
        try:
            parsed = json.loads(body) if body else None
        except json.JSONDecodeError:
            parsed = None
        return {"method": method, "path": path.split("?")[0], "headers": headers, "json": parsed}

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        reason = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            529: "Overloaded",
        }.get(status, "Status")
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def _send_json(
        self, writer: asyncio.StreamWriter, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload).encode()
        head = {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "x-request-id": f"req_{len(self.requests)}",
            "request-id": f"req_{len(self.requests)}",
        }
        head.update(headers or {})
        writer.write(self._head(status, head) + body)
        await writer.drain()

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    # --- behaviours -------------------------------------------------------------------------

    async def _respond(self, request: dict[str, Any], reply: Reply, writer: asyncio.StreamWriter) -> bool:
        path = request["path"]
        fmt = "anthropic" if path.endswith("/messages") else "ollama" if path.startswith("/api/") else "openai"
        body = request["json"] or {}
        model = body.get("model", "unknown")
        streaming = bool(body.get("stream")) if fmt != "ollama" else body.get("stream", True) is not False
        if reply.kind == "reset":
            self._abort(writer)
            return False
        if reply.kind == "hang":
            await asyncio.sleep(reply.delay)
            self._abort(writer)
            return False
        if reply.kind == "status":
            await self._send_json(writer, reply.status, self._error_body(fmt, reply), reply.headers)
            return True
        if not streaming:
            if reply.kind == "slow":
                await asyncio.sleep(reply.delay)
            await self._send_json(writer, 200, self._complete(fmt, model, reply))
            return True
        return await self._stream(fmt, model, reply, writer)

    @staticmethod
    def _error_body(fmt: str, reply: Reply) -> Any:
        if fmt == "anthropic":
            kind = reply.error_type or {
                400: "invalid_request_error",
                401: "authentication_error",
                429: "rate_limit_error",
                529: "overloaded_error",
            }.get(reply.status, "api_error")
            return {"type": "error", "error": {"type": kind, "message": reply.message}}
        if fmt == "ollama":
            return {"error": reply.message}
        return {
            "error": {
                "message": reply.message,
                "type": reply.error_type or "server_error",
                "param": None,
                "code": reply.error_code,
            }
        }

    @staticmethod
    def _complete(fmt: str, model: str, reply: Reply) -> Any:
        p, c, k = reply.usage
        if fmt == "anthropic":
            stop = "refusal" if reply.finish_reason == "content_filter" else (reply.finish_reason or "end_turn")
            return {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": reply.text}],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": p - k,
                    "output_tokens": c,
                    "cache_read_input_tokens": k,
                    "cache_creation_input_tokens": 0,
                },
            }
        if fmt == "ollama":
            return {
                "model": model,
                "created_at": "2026-11-22T00:00:00Z",
                "message": {"role": "assistant", "content": reply.text},
                "done": True,
                "done_reason": reply.finish_reason or "stop",
                "prompt_eval_count": p,
                "eval_count": c,
            }
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason or "stop",
                }
            ],
            "usage": {
                "prompt_tokens": p,
                "completion_tokens": c,
                "total_tokens": p + c,
                "prompt_tokens_details": {"cached_tokens": k},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }

    def _events(self, fmt: str, model: str, reply: Reply) -> tuple[list[bytes], list[bytes]]:
        """(content events, terminal events) as wire bytes."""
        p, c, k = reply.usage
        pieces = _pieces(reply.text)
        if fmt == "anthropic":

            def ev(name: str, data: Any) -> bytes:
                return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

            start = [
                ev(
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": "msg_fake",
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {
                                "input_tokens": p - k,
                                "output_tokens": 1,
                                "cache_read_input_tokens": k,
                                "cache_creation_input_tokens": 0,
                            },
                        },
                    },
                ),
                ev(
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                ),
            ]
            content = [
                ev(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                )
                for piece in pieces
            ]
            stop = "refusal" if reply.finish_reason == "content_filter" else (reply.finish_reason or "end_turn")
            end = [
                ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ev(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": stop, "stop_sequence": None},
                        "usage": {"output_tokens": c},
                    },
                ),
                ev("message_stop", {"type": "message_stop"}),
            ]
            return start + content, end
        if fmt == "ollama":
            content = [
                (
                    json.dumps(
                        {
                            "model": model,
                            "created_at": "2026-11-22T00:00:00Z",
                            "message": {"role": "assistant", "content": piece},
                            "done": False,
                        }
                    )
                    + "\n"
                ).encode()
                for piece in pieces
            ]
            end = [
                (
                    json.dumps(
                        {
                            "model": model,
                            "created_at": "2026-11-22T00:00:00Z",
                            "message": {"role": "assistant", "content": ""},
                            "done": True,
                            "done_reason": reply.finish_reason or "stop",
                            "prompt_eval_count": p,
                            "eval_count": c,
                        }
                    )
                    + "\n"
                ).encode()
            ]
            return content, end

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        content = [chunk({"role": "assistant", "content": piece}, None) for piece in pieces]
        usage = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": p,
                "completion_tokens": c,
                "total_tokens": p + c,
                "prompt_tokens_details": {"cached_tokens": k},
            },
        }
        end = [chunk({}, reply.finish_reason or "stop"), f"data: {json.dumps(usage)}\n\n".encode(), b"data: [DONE]\n\n"]
        return content, end

    async def _stream(self, fmt: str, model: str, reply: Reply, writer: asyncio.StreamWriter) -> bool:
        ctype = "application/x-ndjson" if fmt == "ollama" else "text/event-stream"
        writer.write(
            self._head(
                200,
                {
                    "content-type": ctype,
                    "transfer-encoding": "chunked",
                    "x-request-id": f"req_{len(self.requests)}",
                    "request-id": f"req_{len(self.requests)}",
                },
            )
        )
        await writer.drain()

        async def send(data: bytes) -> None:
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()

        content, end = self._events(fmt, model, reply)
        if reply.kind == "slow":
            await asyncio.sleep(reply.delay)
        if reply.kind in ("cut", "stall", "malformed"):
            # keep the preamble (Anthropic's message_start) plus `after_chunks` content events
            lead = len(content) - len(_pieces(reply.text))
            for data in content[: lead + reply.after_chunks]:
                await send(data)
            if reply.kind == "cut":
                self._abort(writer)
                return False
            if reply.kind == "stall":
                await asyncio.sleep(reply.delay)
                self._abort(writer)
                return False
            broken = b"data: {not json\n\n" if fmt != "ollama" else b"{not json\n"
            if fmt == "anthropic":
                broken = b"event: content_block_delta\ndata: {not json\n\n"
            await send(broken)
            for data in end:
                await send(data)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        for data in content:
            await send(data)
        if reply.kind != "no_terminator":
            for data in end:
                await send(data)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
