"""Error mapping shared by the provider modules: walk the cause chain, read statuses, headers, error codes.

What Agno's model classes raise (agno 3.1, see tests/unit/providers/test_error_mapping.py):

- `OpenAIChat` / `LlamaCpp` / `Claude` wrap SDK errors in `agno.exceptions.ModelProviderError` (or its
  `ModelRateLimitError` / `ContextWindowExceededError`) with the SDK exception in `__cause__`. Agno's own
  `status_code` is 502 when there was no HTTP status, so it is never trusted: the status comes from the SDK
  exception's HTTP response.
- `Ollama` does not wrap: `ollama.ResponseError` (`status_code` -1 for an error inside a stream), raw
  httpx errors, or builtin `ConnectionError` (connection refused).
- Errors while reading a streamed body escape the SDKs unwrapped (raw httpx/httpx2 `ReadError`,
  `RemoteProtocolError`, `ReadTimeout`, or `json.JSONDecodeError`); the same failures while a non-streamed
  body is read come wrapped (`APIConnectionError`) or raw. Where the failure happened is not read from the
  exception: Focal observed it (`CallObservation.failed_mid_stream`: the streamed response's headers had
  arrived), which separates "the request failed" (`ProviderUnavailable` / `ProviderTimeoutError`) from
  "the stream broke" (`StreamInterruptedError`).

Decisions use exception types, HTTP statuses, headers and structured error codes; message text is used
only as the last resort to recognise a context-window error (Anthropic and Ollama have no code for it).
"""

from __future__ import annotations

import email.utils
import importlib
import json
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from focal.execution.errors import ProviderError
    from focal.routing.registry import ModelInfo

__all__ = [
    "chain",
    "classify",
    "error_codes",
    "http_status",
    "request_id",
    "response_headers",
    "retry_after",
]

CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length", "context_window_exceeded"})
FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "content_filtered", "refusal"})
RATE_CODES = frozenset({"rate_limit_exceeded", "rate_limit_error", "overloaded_error", "too_many_requests"})
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
"""429s that waiting will not fix (the account is out of credit): not retried on the same model."""
# Last resort only (4xx without a structured code): how providers word "the prompt does not fit".
_CONTEXT_PATTERNS = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "exceeds the context",
)


def _httpx_classes(name: str) -> tuple[type[BaseException], ...]:
    """httpx's public exception class `name` from each installed flavour: `httpx` (Ollama, Agno) and its
    fork `httpx2` (the OpenAI and Anthropic SDKs)."""
    found: list[type[BaseException]] = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


_HTTP_TIMEOUTS = _httpx_classes("TimeoutException")
_HTTP_TRANSPORT = _httpx_classes("TransportError")
_HTTP_ERRORS = _httpx_classes("HTTPError")


# --- walking the chain ------------------------------------------------------------------------


def chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it: `__cause__`, else `__context__` (Ollama re-raises `from None`, which
    only hides the context: its `HTTPStatusError` still carries the response headers). No loops."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        cause, context = current.__cause__, current.__context__
        # Agno's retry wrapper does `raise err from err` for non-retryable errors: a cause pointing back
        # at itself, while the SDK exception is still the context.
        current = cause if cause is not None and id(cause) not in seen else context


def _explicit_causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and its `raise ... from` causes only (never an unrelated exception being handled)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


# --- reading the provider's answer ------------------------------------------------------------


def http_status(exc: BaseException, status_types: tuple[type[BaseException], ...] = ()) -> int | None:
    """The HTTP error status (>= 400) the provider answered with, if any.

    Read from the SDK exception's HTTP response (Agno's own `status_code` defaults to 502 when there was
    none, so it is ignored) or from `ollama.ResponseError.status_code` (-1 means "inside a stream").
    An error event inside a 200 stream (Anthropic raises `APIStatusError` with the 200 response) has none.
    `status_types`: exceptions that carry the status themselves (`ollama.ResponseError.status_code`).
    """
    for e in chain(exc):
        response = getattr(e, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            return code if code >= 400 else None
        if status_types and isinstance(e, status_types):
            code = getattr(e, "status_code", None)
            if isinstance(code, int) and code >= 400:
                return code
    return None


def response_headers(exc: BaseException) -> Mapping[str, str]:
    """The provider's response headers (case-insensitive mapping) from the SDK / httpx exception."""
    for e in chain(exc):
        headers = getattr(getattr(e, "response", None), "headers", None)
        if headers is not None and hasattr(headers, "get"):
            return headers  # type: ignore[no-any-return]
    return {}


def retry_after(exc: BaseException, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date)."""
    headers = response_headers(exc)
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def request_id(exc: BaseException) -> str | None:
    """The provider's request id: the SDK exception's `request_id`, else `x-request-id` / `request-id`."""
    for e in chain(exc):
        rid = getattr(e, "request_id", None)
        if isinstance(rid, str) and rid:
            return rid
    headers = response_headers(exc)
    return headers.get("x-request-id") or headers.get("request-id") or None


def _body_error(exc: BaseException) -> dict[str, Any]:
    """The `error` object of the provider's JSON error body, if an SDK exception carries one."""
    for e in chain(exc):
        body = getattr(e, "body", None)
        if isinstance(body, dict):
            inner = body.get("error", body)
            return inner if isinstance(inner, dict) else {"message": str(inner)}
    return {}


def error_codes(exc: BaseException) -> set[str]:
    """Structured codes/types the provider gave (OpenAI `code`/`type`, Anthropic `type`/`error_code`), lowercased."""
    codes: set[str] = set()
    for e in chain(exc):
        for attr in ("code", "type", "error_code"):
            value = getattr(e, attr, None)
            if isinstance(value, str) and value:
                codes.add(value.lower())
    body = _body_error(exc)
    for key in ("code", "type"):
        if isinstance(body.get(key), str):
            codes.add(body[key].lower())
    details = body.get("details")
    if isinstance(details, dict) and isinstance(details.get("error_code"), str):
        codes.add(details["error_code"].lower())
    return codes


def provider_message(exc: BaseException) -> str:
    """The provider's own wording when there is one (error body), else the first non-empty message."""
    for e in chain(exc):
        for attr in ("api_message", "error"):  # Anthropic `api_message`, Ollama `ResponseError.error`
            value = getattr(e, attr, None)
            if isinstance(value, str) and value:
                return value[:500]
    message = _body_error(exc).get("message")
    if isinstance(message, str) and message:
        return message[:500]
    for e in chain(exc):
        text = str(getattr(e, "message", None) or e)
        if text:
            return text[:500]
    return type(exc).__name__


def _looks_like_context_window(exc: BaseException, codes: set[str]) -> bool:
    from agno.exceptions import ContextWindowExceededError

    if any(isinstance(e, ContextWindowExceededError) for e in chain(exc)) or codes & CONTEXT_CODES:
        return True
    text = " ".join(str(e) for e in chain(exc)).lower()  # last resort: Anthropic / Ollama have no code
    return any(p in text for p in _CONTEXT_PATTERNS)


def _is_timeout(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    return any(isinstance(e, (TimeoutError, *_HTTP_TIMEOUTS, *types)) for e in chain(exc))


def _is_transport(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    return any(isinstance(e, (ConnectionError, *_HTTP_TRANSPORT, *types)) for e in chain(exc))


# --- the mapping ------------------------------------------------------------------------------


def classify(
    exc: BaseException,
    model: ModelInfo,
    *,
    mid_stream: bool = False,
    timeout_types: tuple[type[BaseException], ...] = (),
    connection_types: tuple[type[BaseException], ...] = (),
    sdk_error_types: tuple[type[BaseException], ...] = (),
    status_types: tuple[type[BaseException], ...] = (),
) -> ProviderError:
    """Map what a provider's Agno model raised to Focal's typed error.

    Args:
        exc: the exception (Agno's wrapper, or the raw SDK / httpx / builtin error).
        model: the registry model that was called (fills `provider` and `model`).
        mid_stream: Focal saw the failure cut a streamed body (`CallObservation.failed_mid_stream`).
        timeout_types: the SDK's timeout exceptions (e.g. `openai.APITimeoutError`).
        connection_types: the SDK's connection exceptions (e.g. `openai.APIConnectionError`).
        sdk_error_types: the SDK's base error (e.g. `openai.APIError`): one without an HTTP status was
            reported inside a stream.
        status_types: exceptions carrying the HTTP status as `status_code` (Ollama's `ResponseError`).

    Order: a Focal error passes through; HTTP status (401/403 auth, 429/529 rate limit, 408 timeout,
    5xx/409 unavailable, 4xx: context window → content filter → bad request); then timeouts and transport
    errors (`StreamInterruptedError` when a streamed body was being read, else `ProviderTimeoutError` /
    `ProviderUnavailable`); a malformed body or chunk; an error event inside a stream (by its code);
    Agno's `ModelAuthenticationError` (no key); anything else is a plain `ProviderError`.
    """
    from agno.exceptions import ModelAuthenticationError

    from focal.execution import errors as E

    for e in _explicit_causes(exc):
        if isinstance(e, E.ProviderError):
            return e

    common: dict[str, Any] = {"provider": model.provider, "model": model.id, "request_id": request_id(exc)}
    message = provider_message(exc)
    codes = error_codes(exc)
    status = http_status(exc, status_types)

    if status is not None:
        common["status_code"] = status
        if status in (401, 403):
            return E.AuthenticationError(message, **common)
        if status in (429, 529) or (status < 500 and codes & RATE_CODES):
            retryable = False if codes & QUOTA_CODES else None
            return E.RateLimitError(message, retry_after=retry_after(exc), retryable=retryable, **common)
        if status == 408 or status >= 500 or status == 409:
            cls = E.ProviderTimeoutError if status == 408 else E.ProviderUnavailable
            unavailable = cls(message, **common)
            unavailable.retry_after = retry_after(exc)  # a 503's Retry-After is as binding as a 429's
            return unavailable
        if _looks_like_context_window(exc, codes):
            return E.ContextWindowExceeded(message, **common)
        if codes & FILTER_CODES:
            return E.ContentFiltered(message, **common)
        return E.BadRequestError(message, **common)

    detail = _detail(exc)
    if _is_timeout(exc, timeout_types):
        if mid_stream:
            return E.StreamInterruptedError(f"the stream stalled: no data within the read timeout ({detail})", **common)
        return E.ProviderTimeoutError(f"the provider did not answer in time ({detail})", **common)
    if _is_transport(exc, connection_types):
        if mid_stream:
            return E.StreamInterruptedError(f"the connection dropped mid-stream ({detail})", **common)
        return E.ProviderUnavailable(f"the connection to the provider failed ({detail})", **common)
    if any(isinstance(e, json.JSONDecodeError) for e in chain(exc)):
        if mid_stream:
            return E.StreamInterruptedError(f"the stream sent a malformed chunk ({detail})", **common)
        return E.ProviderUnavailable(f"the provider sent a malformed response ({detail})", **common)
    if sdk_error_types and any(isinstance(e, sdk_error_types) for e in chain(exc)):
        # an error event inside a 200 stream: OpenAI `data: {"error": ...}`, Anthropic `event: error`,
        # Ollama `{"error": ...}`
        if codes & RATE_CODES:
            return E.RateLimitError(message, retry_after=retry_after(exc), **common)
        if _looks_like_context_window(exc, codes):
            return E.ContextWindowExceeded(message, **common)
        if codes & FILTER_CODES:
            return E.ContentFiltered(message, **common)
        return E.ProviderUnavailable(message, **common)
    if any(isinstance(e, ModelAuthenticationError) for e in chain(exc)):
        return E.AuthenticationError(message, **common)  # no API key: raised before any request
    return E.ProviderError(message, **common)


def _detail(exc: BaseException) -> str:
    """The low-level failure underneath, e.g. `ReadError` or `JSONDecodeError: Expecting value ...`."""
    last = exc
    for e in chain(exc):
        if isinstance(e, (*_HTTP_ERRORS, json.JSONDecodeError, ConnectionError, TimeoutError)):
            last = e
            break
    text = str(last)
    return f"{type(last).__name__}: {text}"[:300] if text else type(last).__name__
