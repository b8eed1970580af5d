"""A scripted behaviour of the fake provider server (see provider_server.py for the catalogue)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ANTHROPIC", "OLLAMA", "OPENAI", "Reply"]

OPENAI, ANTHROPIC, OLLAMA = "openai", "anthropic", "ollama"


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
    def drip(cls, seconds: float, text: str = "Late but whole.") -> Reply:
        """A plain (non-stream) answer whose body trickles in a byte every 0.1 s for `seconds`: every
        read is quick, the whole response is not."""
        return cls("drip", delay=seconds, text=text)

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
