"""See what a provider really did during an Agno run.

Agno catches provider errors inside `Agent.arun` and returns a `RunOutput(status=ERROR)` with
only the message; it also hides the provider's finish reason, request id and whether a stream
ended with its terminator. Every model Focal builds carries `ObservingMixin`, which reports the
raw responses, stream chunks and exceptions of its `invoke*` calls to the `CallObservation`
installed with `observe_call()` around the run (child tasks included: they share the object).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallObservation", "ObservingMixin", "ProviderHooks", "current_observation", "observe_call"]


@dataclass(slots=True)
class ProviderHooks:
    """How one provider's raw objects are read (each provider module supplies these)."""

    response_info: Callable[[Any], tuple[str | None, str | None]]
    """raw non-stream response -> (finish_reason, request_id)"""
    chunk_info: Callable[[Any], tuple[str | None, bool]]
    """raw stream chunk -> (finish_reason or None, is_terminal: the stream's own end marker)"""
    request_id_header: str | None = None
    """The response header carrying the provider's request id (a streamed response has it only there)."""


@dataclass(slots=True)
class CallObservation:
    """What the model layer saw during one run."""

    errors: list[BaseException] = field(default_factory=list)
    finish_reason: str | None = None
    request_id: str | None = None
    model_calls: int = 0
    stream_started: bool = False
    stream_terminated: bool = False
    """True once a chunk carried the provider's end marker (finish reason / message_stop / done)."""
    chunks: int = 0
    first_chunk_at: float | None = None
    requests_in_flight: int = 0
    """Model requests under way (0 while Agno runs the call's tools between them). A request cut by a
    cancellation (the call's timeout) stays counted: it was in flight when the call was cut."""
    requests_started: int = 0
    before_next_request: Callable[[Any], Awaitable[None]] | None = None
    """Awaited with Agno's messages before each model request of the run after the first (a tool
    loop's next round); it may raise to stop the run (e.g. the budget refuses the round)."""

    def saw_error(self) -> BaseException | None:
        """The last exception raised by the model, if any."""
        return self.errors[-1] if self.errors else None


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


class ObservingMixin:
    """Put before the Agno model class in the bases. Subclasses set `focal_hooks`."""

    focal_hooks: ProviderHooks | None = None
    focal_finish_ends_stream: bool = False
    """The finish-reason chunk is the stream's end marker (servers that send no usage chunk after it)."""

    def _focal_response(self, raw: Any) -> None:
        obs = _current.get()
        if obs is None:
            return
        obs.model_calls += 1
        hooks = type(self).focal_hooks
        if hooks is not None:
            try:
                finish, request_id = hooks.response_info(raw)
            except Exception:  # never let bookkeeping break a call
                finish, request_id = None, None
            obs.finish_reason = finish or obs.finish_reason
            obs.request_id = request_id or obs.request_id

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

    def get_async_client(self) -> Any:
        client = super().get_async_client()  # type: ignore[misc]
        hooks = type(self).focal_hooks
        if hooks is not None and hooks.request_id_header:
            watch_request_ids(client, hooks.request_id_header)
        return client

    # Agno parses the SDK's raw response / chunks inside invoke*: observe them there.
    def _parse_provider_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._focal_response(response)
        return super()._parse_provider_response(response, *args, **kwargs)  # type: ignore[misc]

    def _parse_provider_response_delta(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._focal_chunk(response)
        return super()._parse_provider_response_delta(response, *args, **kwargs)  # type: ignore[misc]

    @staticmethod
    def _focal_error(exc: BaseException) -> None:
        obs = _current.get()
        if obs is not None:
            obs.errors.append(exc)

    @staticmethod
    def _focal_in_flight(change: int) -> None:
        obs = _current.get()
        if obs is not None:
            obs.requests_in_flight += change

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        self._focal_in_flight(1)
        try:
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
            obs.errors.append(exc)
            raise

    async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
        obs = _current.get()  # (inlined: this runs on every model request)
        if obs is not None:
            obs.requests_started += 1
            if obs.requests_started > 1 and obs.before_next_request is not None:
                await self._focal_admit_round(obs, args, kwargs)
            obs.requests_in_flight += 1
        try:
            response = await super().ainvoke(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            if obs is not None:
                obs.requests_in_flight -= 1
                obs.errors.append(exc)
            raise
        if obs is not None:
            obs.requests_in_flight -= 1  # not on a cancellation: see `requests_in_flight`
        return response

    def invoke_stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._focal_stream_opened()
        self._focal_in_flight(1)
        try:
            yield from super().invoke_stream(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            self._focal_error(exc)
            raise
        finally:
            self._focal_in_flight(-1)

    def _focal_stream_opened(self) -> None:
        obs = _current.get()
        if obs is not None:  # each model stream (a tool round-trip opens another) must end with its marker
            obs.stream_started = True
            obs.stream_terminated = False
            obs.model_calls += 1

    async def ainvoke_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        await self._focal_next_round(args, kwargs)
        self._focal_stream_opened()
        self._focal_in_flight(1)
        try:
            async for item in super().ainvoke_stream(*args, **kwargs):  # type: ignore[misc]
                yield item
        except Exception as exc:
            self._focal_in_flight(-1)
            self._focal_error(exc)
            raise
        self._focal_in_flight(-1)  # not on a cancellation or a consumer gone: see `requests_in_flight`


def watch_request_ids(sdk_client: Any, header: str) -> None:
    """Report each HTTP response's `header` (the provider's request id) to the current `CallObservation`.

    Agno only hands the parsed body (non-stream) or the chunks (stream) to Focal's hooks; a streamed
    response's request id lives only in its headers. This adds an httpx response hook to the async SDK
    client's own HTTP client (`_client`, present in the openai, anthropic and ollama clients);
    idempotent, and a no-op if the client has no such attribute.
    """
    http: Any = getattr(sdk_client, "_client", None)
    hooks = getattr(http, "event_hooks", None)
    if not isinstance(hooks, dict):
        return
    hook = _REQUEST_ID_HOOKS.get(header)
    if hook is None:
        hook = _REQUEST_ID_HOOKS[header] = _request_id_hook(header)
    response_hooks = hooks.get("response", [])
    if hook not in response_hooks:
        http.event_hooks = {**hooks, "response": [*response_hooks, hook]}


def _request_id_hook(header: str) -> Callable[[Any], Any]:
    async def record(response: Any) -> None:
        obs = _current.get()
        if obs is not None:
            rid = response.headers.get(header)
            if rid:
                obs.request_id = rid

    return record


_REQUEST_ID_HOOKS: dict[str, Callable[[Any], Any]] = {}
