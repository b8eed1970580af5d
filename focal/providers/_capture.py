"""See what a provider really did during an Agno run, from Focal's own vantage points.

Agno catches provider errors inside `Agent.arun` and returns a `RunOutput(status=ERROR)` with only the
message; it also hides the provider's finish reason, request id and whether a stream ended with its
terminator. Focal observes the call itself and records what it sees in the `CallObservation` installed
with `observe_call()` around the run (child tasks included: they share the object):

- every model Focal builds carries `ObservingMixin`: the exceptions of its `invoke*` calls, the raw
  responses and stream chunks (finish reason, end marker), the requests in flight;
- the HTTP client Focal gives the provider SDK carries `http_event_hooks()` (httpx's public event hooks):
  when each request starts, when its response headers arrive (status, request id);
- the per-call agent carries `mark_tools_ran` (Agno's public `tool_hooks`): whether a tool was called.

From these facts, not from tracebacks, `failed_mid_stream` says whether an error cut a streamed body.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from focal.providers._agno_private import RawResponseSeam

__all__ = [
    "CallObservation",
    "ObservingMixin",
    "ProviderHooks",
    "current_observation",
    "http_event_hooks",
    "mark_tools_ran",
    "observe_call",
]


@dataclass(slots=True)
class ProviderHooks:
    """How one provider's raw objects are read (each provider module supplies these)."""

    finish_reason: Callable[[Any], str | None]
    """raw non-stream response -> its finish reason"""
    chunk_info: Callable[[Any], tuple[str | None, bool]]
    """raw stream chunk -> (finish_reason or None, is_terminal: the stream's own end marker)"""


@dataclass(slots=True)
class CallObservation:
    """What Focal saw during one run."""

    errors: list[BaseException] = field(default_factory=list)
    finish_reason: str | None = None
    request_id: str | None = None
    model_calls: int = 0
    stream_started: bool = False
    stream_terminated: bool = False
    """True once a chunk carried the provider's end marker (finish reason / message_stop / done)."""
    chunks: int = 0
    first_chunk_at: float | None = None
    response_status: int | None = None
    """The HTTP status of the current request's response, once its headers arrived (None before)."""
    requests_in_flight: int = 0
    """Model requests under way (0 while Agno runs the call's tools between them). A request cut by a
    cancellation (the call's timeout) stays counted: it was in flight when the call was cut."""
    requests_started: int = 0
    tools_ran: bool = False
    """A tool of this run was called (its side effects may have happened): never repeat the run."""
    before_next_request: Callable[[Any], Awaitable[None]] | None = None
    """Awaited with Agno's messages before each model request of the run after the first (a tool
    loop's next round); it may raise to stop the run (e.g. the budget refuses the round)."""
    _mid_stream: set[int] = field(default_factory=set)

    def saw_error(self) -> BaseException | None:
        """The last exception raised by the model, if any."""
        return self.errors[-1] if self.errors else None

    def record_error(self, exc: BaseException, *, mid_stream: bool = False) -> None:
        """Record what the model raised; `mid_stream`: a streamed response's body was being read."""
        self.errors.append(exc)
        if mid_stream:
            self._mid_stream.add(id(exc))

    def failed_mid_stream(self, exc: BaseException) -> bool:
        """Whether `exc` (or what it wraps) cut a streamed body after its response headers arrived."""
        seen = 0
        current: BaseException | None = exc
        while current is not None and seen < 16:
            if id(current) in self._mid_stream and current in self.errors:
                return True
            current = current.__cause__ or current.__context__
            seen += 1
        return False


_current: ContextVar[CallObservation | None] = ContextVar("focal_call_observation", default=None)


def current_observation() -> CallObservation | None:
    """The observation of the call running in this context, if any."""
    return _current.get()


class observe_call:
    """Install a fresh `CallObservation` for the `with` block (a class: this runs on every call)."""

    __slots__ = ("_token",)

    def __enter__(self) -> CallObservation:
        observation = CallObservation()
        self._token = _current.set(observation)
        return observation

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


# --- HTTP: httpx's public event hooks on the client Focal hands the SDK ---------------------------


async def _on_request(request: Any) -> None:
    obs = _current.get()
    if obs is not None:
        obs.response_status = None  # a new request: no response headers yet


def http_event_hooks(request_id_header: str | None = None) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
    """`event_hooks` for an httpx / httpx2 `AsyncClient`: record when each request starts and when its
    response headers arrive (status, and the provider's request id from `request_id_header`)."""

    async def on_response(response: Any) -> None:
        obs = _current.get()
        if obs is None:
            return
        obs.response_status = response.status_code
        if request_id_header:
            rid = response.headers.get(request_id_header)
            if rid:
                obs.request_id = rid

    return {"request": [_on_request], "response": [on_response]}


# --- tools: Agno's public tool hooks --------------------------------------------------------------


async def mark_tools_ran(function_call: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """An Agno tool hook: note that a tool of the current call ran (before it runs: a tool that fails
    half-way may have acted all the same), then run it."""
    obs = _current.get()
    if obs is not None:
        obs.tools_ran = True
    result = function_call(**arguments)
    return await result if isinstance(result, Awaitable) else result


# --- the model: what it raised, its raw answers ------------------------------------------------


def _missing_credentials(model: Any) -> None:
    message = getattr(model, "focal_missing_credentials", None)
    if message:
        from focal.execution.errors import AuthenticationError  # (execution imports this package)

        raise AuthenticationError(message, provider=getattr(model, "focal_provider", None), model=model.id)


class ObservingMixin(RawResponseSeam):
    """Put before the Agno model class in the bases. Subclasses set `focal_hooks`."""

    focal_hooks: ProviderHooks | None = None
    focal_finish_ends_stream: bool = False
    """The finish-reason chunk is the stream's end marker (servers that send no usage chunk after it)."""
    focal_missing_credentials: str | None = None
    """Set when the provider's key is known to be missing: every request is refused before it is sent."""
    focal_provider: str | None = None

    def _focal_response(self, raw: Any) -> None:
        obs = _current.get()
        if obs is None:
            return
        obs.model_calls += 1
        hooks = type(self).focal_hooks
        if hooks is not None:
            try:
                finish = hooks.finish_reason(raw)
            except Exception:  # never let bookkeeping break a call
                finish = None
            obs.finish_reason = finish or obs.finish_reason

    def _focal_chunk(self, raw: Any) -> None:
        obs = _current.get()
        if obs is None:
            return
        obs.chunks += 1
        if obs.first_chunk_at is None:
            obs.first_chunk_at = time.perf_counter()
        hooks = type(self).focal_hooks
        if hooks is not None:
            try:
                finish, terminal = hooks.chunk_info(raw)
            except Exception:
                finish, terminal = None, False
            if finish:
                obs.finish_reason = finish
            if terminal or (finish and self.focal_finish_ends_stream):
                obs.stream_terminated = True

    @staticmethod
    def _focal_error(exc: BaseException) -> None:
        obs = _current.get()
        if obs is not None:
            obs.record_error(exc)

    @staticmethod
    def _focal_in_flight(change: int) -> None:
        obs = _current.get()
        if obs is not None:
            obs.requests_in_flight += change

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        self._focal_in_flight(1)
        try:
            _missing_credentials(self)
            return super().invoke(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            self._focal_error(exc)
            raise
        finally:
            self._focal_in_flight(-1)

    async def _focal_next_round(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        obs = _current.get()
        if obs is None:
            return
        obs.requests_started += 1
        if obs.requests_started > 1 and obs.before_next_request is not None:
            await self._focal_admit_round(obs, args, kwargs)

    @staticmethod
    async def _focal_admit_round(obs: CallObservation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A tool loop's next request: let `before_next_request` admit (or refuse) it."""
        assert obs.before_next_request is not None
        try:
            await obs.before_next_request(args[0] if args else kwargs.get("messages"))
        except Exception as exc:
            obs.record_error(exc)
            raise

    async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
        obs = _current.get()  # (inlined: this runs on every model request)
        if obs is not None:
            obs.requests_started += 1
            if obs.requests_started > 1 and obs.before_next_request is not None:
                await self._focal_admit_round(obs, args, kwargs)
            obs.requests_in_flight += 1
        try:
            if self.focal_missing_credentials:
                _missing_credentials(self)
            response = await super().ainvoke(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            if obs is not None:
                obs.requests_in_flight -= 1
                obs.record_error(exc)  # a plain answer is never a stream, whatever cut its body
            raise
        if obs is not None:
            obs.requests_in_flight -= 1  # not on a cancellation: see `requests_in_flight`
        return response

    def invoke_stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        chunks_before = self._focal_stream_opened()
        self._focal_in_flight(1)
        try:
            _missing_credentials(self)
            yield from super().invoke_stream(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            self._focal_stream_error(exc, chunks_before)
            raise
        finally:
            self._focal_in_flight(-1)

    def _focal_stream_opened(self) -> int:
        """Start a model stream (a tool round-trip opens another); returns the chunk count before it."""
        obs = _current.get()
        if obs is None:
            return 0
        obs.stream_started = True
        obs.stream_terminated = False  # each stream must end with its own marker
        obs.model_calls += 1
        obs.response_status = None
        return obs.chunks

    @staticmethod
    def _focal_stream_error(exc: BaseException, chunks_before: int) -> None:
        """Record a stream's error; it cut the body if the response's 2xx headers (or a chunk) had arrived."""
        obs = _current.get()
        if obs is None:
            return
        status = obs.response_status
        obs.record_error(exc, mid_stream=(status is not None and status < 300) or obs.chunks > chunks_before)

    async def ainvoke_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        await self._focal_next_round(args, kwargs)
        chunks_before = self._focal_stream_opened()
        self._focal_in_flight(1)
        try:
            if self.focal_missing_credentials:
                _missing_credentials(self)
            async for item in super().ainvoke_stream(*args, **kwargs):  # type: ignore[misc]
                yield item
        except Exception as exc:
            self._focal_in_flight(-1)
            self._focal_stream_error(exc, chunks_before)
            raise
        self._focal_in_flight(-1)  # not on a cancellation or a consumer gone: see `requests_in_flight`
