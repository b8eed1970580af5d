"""Shared pieces of the per-provider error mapping: walk the cause chain, read status and headers."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from typing import Any

from focal.routing import ModelInfo

_CONTEXT_PATTERNS = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "reduce the length",
    "input is too long",
    "exceeds the context",
)
_FILTER_CODES = {"content_filter", "content_policy_violation", "refusal"}


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then its causes/contexts (no loops)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def find(exc: BaseException, *types: type[BaseException]) -> BaseException | None:
    """The first exception in the chain of one of `types`."""
    return next((e for e in chain(exc) if isinstance(e, types)), None)


def find_httpx(exc: BaseException, name: str) -> BaseException | None:
    """The first exception whose class (or a base) is httpx's `name` — from httpx or its fork httpx2
    (the Anthropic SDK ships on httpx2, so isinstance checks against httpx alone would miss it)."""
    for e in chain(exc):
        for klass in type(e).__mro__:
            if klass.__name__ == name and klass.__module__.split(".")[0] in ("httpx", "httpx2"):
                return e
    return None


def status_code(exc: BaseException) -> int | None:
    """An HTTP status from the SDK exception (or Agno's wrapper), if any."""
    for e in chain(exc):
        response = getattr(e, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            return code
        code = getattr(e, "status_code", None)
        if isinstance(code, int) and code != 502:  # Agno's default 502 means "no HTTP status"
            return code
    return None


def headers(exc: BaseException) -> Any:
    for e in chain(exc):
        response_headers = getattr(getattr(e, "response", None), "headers", None)
        if response_headers is not None and hasattr(response_headers, "get"):
            return response_headers
    return {}


def retry_after(exc: BaseException) -> float | None:
    """Seconds from `retry-after-ms` / `retry-after` (seconds or an HTTP date)."""
    h = headers(exc)
    ms = h.get("retry-after-ms") if h else None
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = h.get("retry-after") if h else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def request_id(exc: BaseException) -> str | None:
    h = headers(exc)
    for e in chain(exc):
        rid = getattr(e, "request_id", None)
        if isinstance(rid, str) and rid:
            return rid
    return (h.get("x-request-id") or h.get("request-id")) if h else None


def error_code(exc: BaseException) -> str | None:
    """A structured error code from the provider body (e.g. OpenAI `context_length_exceeded`)."""
    for e in chain(exc):
        code = getattr(e, "code", None)
        if isinstance(code, str) and code:
            return code
        body = getattr(e, "body", None)
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict):
                for key in ("code", "type"):
                    if isinstance(inner.get(key), str):
                        return inner[key]
    return None


def looks_like_context_window(exc: BaseException) -> bool:
    """Agno's own classification, a structured code, or (last resort) the message."""
    from agno.exceptions import ContextWindowExceededError

    if find(exc, ContextWindowExceededError) is not None:
        return True
    if error_code(exc) in ("context_length_exceeded", "string_above_max_length"):
        return True
    text = " ".join(str(e) for e in chain(exc)).lower()
    return any(p in text for p in _CONTEXT_PATTERNS)


def classify(
    exc: BaseException,
    model: ModelInfo,
    *,
    timeout_types: tuple[type[BaseException], ...] = (),
    connection_types: tuple[type[BaseException], ...] = (),
) -> Any:
    """Map by type and status to Focal's errors. Provider modules pass their SDK's timeout/connection types."""
    from focal.execution import errors as E

    common: dict[str, Any] = {"provider": model.provider, "model": model.id, "request_id": request_id(exc)}
    message = _message(exc)
    if find(exc, TimeoutError, *timeout_types) is not None or find_httpx(exc, "TimeoutException") is not None:
        return E.ProviderTimeoutError(message or "the provider timed out", **common)
    if find(exc, E.ProviderError) is not None:
        return find(exc, E.ProviderError)
    code = status_code(exc)
    if code is None:
        if _is_json_error(exc):
            return E.StreamInterruptedError(message or "the provider sent a malformed chunk", **common)
        if find(exc, ConnectionError, OSError, *connection_types) is not None or find_httpx(exc, "TransportError"):
            # refused, reset, or broke off mid-body; the adapter turns a break after tokens into a cut stream
            return E.ProviderUnavailable(message or "the connection to the provider failed", **common)
        return E.ProviderError(message or type(exc).__name__, **common)
    common["status_code"] = code
    if code in (401, 403):
        return E.AuthenticationError(message, **common)
    if code == 429 or code == 529:
        return E.RateLimitError(message, retry_after=retry_after(exc), **common)
    if code >= 500:
        return E.ProviderUnavailable(message, **common)
    if looks_like_context_window(exc):
        return E.ContextWindowExceeded(message, **common)
    if error_code(exc) in _FILTER_CODES:
        return E.ContentFiltered(message, **common)
    if code in (408, 409):
        return E.ProviderUnavailable(message, **common)
    return E.BadRequestError(message, **common)


def _is_json_error(exc: BaseException) -> bool:
    import json

    return find(exc, json.JSONDecodeError) is not None


def _message(exc: BaseException) -> str:
    for e in chain(exc):
        text = getattr(e, "message", None) or str(e)
        if text:
            return str(text)[:500]
    return ""
