"""`AgnoExecutor`: one LLM attempt as a per-call Agno Agent run, with typed errors and priced usage.

Each call builds a fresh `Agent` (never a mutated shared one; from a step's `AgentTemplate` when it has
one) around a cached Agno model for the resolved registry model, runs it under `observe_call()` to
recover the provider's typed error, finish reason, stream end marker and whether tools ran (Agno swallows
them), and normalizes and prices the usage. Its tools see the caller's session state behind the tenant
guard (`ToolSessionState`) and the caller's `user_id`.
Retries, fallbacks, breakers, budgets and telemetry are the `ResilientExecutor`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from agno.agent import Agent
from agno.models.message import Message as AgnoMessage
from agno.run import RunStatus
from agno.run.agent import RunContentEvent, RunErrorEvent, RunOutput
from pydantic import BaseModel, ValidationError

from focal._ids import new_id
from focal.execution._call_agents import AgentTemplate, per_call_agent, quiet_agno_logs_in_focal_calls
from focal.execution._tool_state import ToolSessionState, guard_hook, tenant_fields
from focal.execution._usage import usage_from_metrics
from focal.execution.budgets import estimate_prompt_tokens, estimate_text_tokens
from focal.execution.errors import (
    ContentFiltered,
    DeadlineExceededError,
    ExecutionError,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
    StructuredOutputError,
    ToolTimeoutError,
)
from focal.execution.types import Attempt, ExecutionContext, LLMResponse, Message, Role, StreamChunk, TokenUsage
from focal.providers import CallParams, aclose_model, build_model, map_error, observe_call
from focal.routing import ModelInfo, ModelRegistry, ProviderKind

__all__ = ["AgnoExecutor", "CallRequest", "ModelFactory"]

ModelFactory = Callable[[ModelInfo, ModelRegistry, CallParams], Any]
"""Builds the Agno model for a registry model (default: `focal.providers.build_model`)."""

_FILTERED = {"content_filter", "refusal", "safety"}
_UNKNOWN = object()
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


@dataclass(slots=True, kw_only=True)
class CallRequest:
    """One attempt on one model."""

    messages: tuple[Message, ...]
    model: ModelInfo
    ctx: ExecutionContext
    params: CallParams = field(default_factory=CallParams)
    instructions: str | None = None
    output_schema: type[BaseModel] | None = None
    tools: tuple[Any, ...] = ()
    stall_timeout_seconds: float | None = None
    """Streaming: the longest silence allowed between chunks (first chunk: the call timeout)."""
    attempts: list[Attempt] | None = None
    """The call's attempt list; the response refers to it (the caller appends the final attempt)."""
    call_id: str | None = None
    """The call this attempt belongs to (the response's `call_id`; a fresh one when None)."""
    primary_ref: str | None = None
    """The resolved model; a response from another model has `fallback_used=True`."""
    metadata: dict[str, Any] | None = None
    """Copied into the response's metadata (e.g. the resolution source and reason)."""
    before_next_request: Callable[[tuple[Message, ...]], Awaitable[None]] | None = None
    """Awaited before each model request of a tool loop after the first, with the messages that
    request sends (the budget admits each round); raising stops the run with that error."""
    template: AgentTemplate | None = None
    """The step's Agent definition the per-call agent copies (`instructions` is then its text, for
    estimates only; `output_schema` and `tools` are the template's)."""
    session_state: dict[str, Any] | None = None
    """The caller's state, which the tools see behind the tenant guard (`ToolSessionState`)."""
    user_id: str | None = None
    """Passed to Agno's run (`run_context.user_id`) and copied into the response's metadata."""


class AgnoExecutor:
    """Runs single attempts on Agno (`call`, `stream_call`); `ResilientExecutor` composes them into calls."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        model_factory: ModelFactory = build_model,
        model_cache_size: int = 256,
        default_timeout_seconds: float = 60.0,
    ) -> None:
        self.registry = registry
        self._factory = model_factory
        self._models: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._kinds: dict[str, object] = {}
        self._cache_size = model_cache_size
        self._default_timeout = default_timeout_seconds
        quiet_agno_logs_in_focal_calls()

    # --- building --------------------------------------------------------------------------

    def agno_model(self, model: ModelInfo, params: CallParams) -> Any:
        """The Agno model for (model, params), built once and reused (keeps the HTTP pool warm); the
        `model_cache_size` least recently used are kept."""
        key = (model.ref, params.temperature, params.max_tokens, params.timeout_seconds)
        built = self._models.get(key)
        if built is None:
            built = self._models[key] = self._factory(model, self.registry, params)
            if len(self._models) > self._cache_size:
                self._models.popitem(last=False)  # the least recently used
        else:
            self._models.move_to_end(key)
        return built

    async def aclose(self) -> None:
        """Close the HTTP connections of every cached model (they are built again if used later)."""
        models = list(self._models.values())
        self._models.clear()
        for built in models:
            await aclose_model(built)

    def _agent(
        self, req: CallRequest, schema: type[BaseModel] | None, messages: tuple[Message, ...] | None = None
    ) -> tuple[Agent, Any, ToolSessionState | None]:
        """A fresh per-call Agent around the cached model, with this call's instructions (or template),
        schema and tools; its input; and the session state its run gets (None: none)."""
        messages = req.messages if messages is None else messages
        model = self.agno_model(req.model, req.params)
        state = None
        if req.tools or req.session_state is not None:
            backing = req.session_state if req.session_state is not None else {}
            state = ToolSessionState(backing, tenant_fields(req.ctx))
        hooks = [guard_hook(state)] if state is not None and req.tools else []
        one_prompt = len(messages) == 1 and messages[0].role is Role.USER  # the common case
        system = [] if one_prompt else [m.content for m in messages if m.role is Role.SYSTEM]
        if req.template is not None:
            agent = req.template.build(model, system=system, tools=req.tools, tool_hooks=hooks)
        else:
            instructions = "\n\n".join([*([req.instructions] if req.instructions else []), *system]) or None
            agent = per_call_agent(
                model, instructions=instructions, output_schema=schema, tools=req.tools, tool_hooks=hooks
            )
        rest = messages if one_prompt else [m for m in messages if m.role is not Role.SYSTEM]
        if len(rest) == 1 and rest[0].role is Role.USER:
            return agent, rest[0].content, state
        agno_input = [AgnoMessage(role=m.role.value, content=m.content, tool_call_id=m.tool_call_id) for m in rest]
        return agent, agno_input, state

    def _timeout(self, req: CallRequest) -> tuple[float, bool]:
        """(seconds, whether the turn deadline is what binds)."""
        timeout = req.params.timeout_seconds or req.ctx.timeout_seconds or self._default_timeout
        remaining = req.ctx.remaining()
        if remaining is not None and remaining < timeout:
            if remaining <= 0:
                raise DeadlineExceededError(
                    "the turn deadline has passed", provider=req.model.provider, model=req.model.id
                )
            return remaining, True
        return timeout, False

    def _limit(self, req: CallRequest) -> _Limit:
        seconds, deadline_binds = self._timeout(req)
        return _Limit(seconds, asyncio.get_running_loop().time() + seconds, deadline_binds)

    def _kind(self, model: ModelInfo) -> ProviderKind | None:
        kind = self._kinds.get(model.provider, _UNKNOWN)
        if kind is _UNKNOWN:
            try:
                kind = self.registry.connection(model.provider).kind
            except Exception:
                kind = None
            self._kinds[model.provider] = kind
        return kind  # type: ignore[return-value]

    # --- one attempt ----------------------------------------------------------------------

    async def call(self, req: CallRequest) -> LLMResponse:
        """One attempt: run the agent, raise a typed `ProviderError` on failure.

        With `req.output_schema`, the returned response's `metadata["parsed"]` holds the validated
        object; a reply that does not validate is re-asked once, then `StructuredOutputError`.
        """
        started = time.perf_counter()
        out, obs, limit = await self._run_once(req, req.messages, req.output_schema)
        usage = usage_from_metrics(out.metrics, self._kind(req.model))
        parsed: BaseModel | None = None
        content = out.content
        if req.output_schema is not None:
            parsed, raw, error = _validate(out.content, req.output_schema)
            if parsed is None:
                retry_messages = (
                    *req.messages,
                    Message(Role.ASSISTANT, raw),
                    Message(
                        Role.USER,
                        f"Your reply did not match the required JSON schema: {error}. "
                        "Reply again with only a JSON object that matches the schema.",
                    ),
                )
                again = replace(req, tools=()) if obs.tools_ran else req  # a re-ask never runs a tool twice
                try:
                    if req.before_next_request is not None:  # the re-ask is another billed request
                        await req.before_next_request(retry_messages)
                    out, obs, _ = await self._run_once(again, retry_messages, req.output_schema, limit)
                except ExecutionError as err:  # the first answer was billed all the same
                    err.tools_ran = err.tools_ran or obs.tools_ran  # and its tools ran
                    raise self._billed(err, req.model, usage) from err.__cause__
                usage = usage + usage_from_metrics(out.metrics, self._kind(req.model))
                parsed, raw, error = _validate(out.content, req.output_schema)
                if parsed is None:
                    invalid = StructuredOutputError(
                        f"{req.output_schema.__name__}: {error}", raw_text=raw, schema_name=req.output_schema.__name__
                    )
                    raise self._billed(invalid, req.model, usage, replace=True)
            content = parsed.model_dump_json()
        elif not isinstance(content, str):
            content = "" if content is None else str(content)
        return self._response(req, content, usage, started, out, obs, parsed)

    async def _run_once(
        self,
        req: CallRequest,
        messages: tuple[Message, ...],
        schema: type[BaseModel] | None,
        limit: _Limit | None = None,
    ) -> tuple[Any, Any, _Limit]:
        """One Agno run: (its output, what the model layer saw, the attempt's time limit). The limit
        starts once the agent is built (a first use may import an SDK) and a re-ask shares it."""
        agent, agno_input, state = self._agent(req, schema, messages)
        limit = limit or self._limit(req)
        with observe_call() as obs:
            if req.before_next_request is not None:
                obs.before_next_request = _with_focal_messages(req.before_next_request)
            try:
                return await self._observed_run(req, agent, agno_input, limit, obs, state), obs, limit
            except ExecutionError as err:
                err.tools_ran = err.tools_ran or obs.tools_ran
                raise

    async def _observed_run(
        self, req: CallRequest, agent: Agent, agno_input: Any, limit: _Limit, obs: Any, state: Any
    ) -> Any:
        """The Agno run's output, or the typed error of what went wrong (Agno swallows provider errors)."""
        # The HTTP client's timeout bounds each read, not the request: a body dripping in a byte at a
        # time would outlast it, so the whole run is timed too.
        try:
            async with asyncio.timeout_at(limit.ends_at):
                # tools read who they act for from `run_context.session_state`, never from the model
                out = await agent.arun(
                    agno_input, session_id=req.ctx.session_id, user_id=req.user_id, session_state=state
                )
        except TimeoutError:
            raise self._timeout_error(req, limit, obs) from None
        except ExecutionError:
            raise
        except Exception as exc:  # something Agno did not swallow
            raise map_error(exc, req.model, self.registry, obs) from exc
        if out.status == RunStatus.error or (obs.errors and out.content is None):
            # the model requests that answered before the failure (a tool round trip) were billed
            failed = self._run_error(req, obs, out)
            raise self._billed(failed, req.model, usage_from_metrics(out.metrics, self._kind(req.model)))
        if obs.finish_reason in _FILTERED:
            filtered = ContentFiltered(
                f"the provider filtered the answer (finish reason {obs.finish_reason!r})",
                provider=req.model.provider,
                model=req.model.id,
                request_id=obs.request_id,
            )
            raise self._billed(filtered, req.model, usage_from_metrics(out.metrics, self._kind(req.model)))
        return out

    def _billed(
        self, err: ExecutionError, model: ModelInfo, usage: TokenUsage, *, replace: bool = False
    ) -> ExecutionError:
        """`err` carrying the tokens its attempt consumed (added to what it already carries)."""
        if err.usage is not None and not replace:
            usage = usage + err.usage
        err.usage = usage
        err.cost = self.price(model, usage)
        err.billed_model = model.ref
        return err

    def _run_error(self, req: CallRequest, obs: Any, out: Any) -> ExecutionError:
        exc = obs.saw_error()
        if exc is not None:
            if isinstance(exc, ExecutionError):  # a provider's, or a refusal of a tool loop's next round
                return exc
            return map_error(exc, req.model, self.registry, obs)
        return ProviderError(f"the run failed: {out.content}", provider=req.model.provider, model=req.model.id)

    def _timeout_error(self, req: CallRequest, limit: _Limit, obs: Any) -> ExecutionError:
        """The error for an attempt its timer cut: the turn deadline's; the tools' when no model request
        was in flight; else the provider's, blamed on it (its breaker) unless a caller's own timeout
        (`ctx.timeout_seconds`) shorter than the provider's configured one cut it: one impatient
        tenant is no sign of the provider's health. A step's timeout is the operator's: it blames."""
        model, seconds = req.model, limit.seconds
        if limit.deadline_binds:
            late: ExecutionError = DeadlineExceededError(
                f"the turn deadline passed after {seconds:.2f}s", provider=model.provider, model=model.id
            )
        elif req.tools and not obs.requests_in_flight:
            late = ToolTimeoutError(
                f"the call's tools were still running when its {seconds:.2f}s timeout passed "
                f"({obs.model_calls} model request(s) answered)"
            )
        else:
            late = ProviderTimeoutError(f"no answer within {seconds:.2f}s", provider=model.provider, model=model.id)
            if req.ctx.timeout_seconds is not None:  # the caller's timeout, not the step's or the provider's
                with contextlib.suppress(Exception):  # a registry without that connection: blamed
                    late.blames_provider = seconds >= self.registry.connection(model.provider).timeout_seconds
        return late

    def _response(
        self,
        req: CallRequest,
        content: str,
        usage: TokenUsage,
        started: float,
        out: Any,
        obs: Any,
        parsed: BaseModel | None = None,
        ttft_ms: float | None = None,
    ) -> LLMResponse:
        metrics = getattr(out, "metrics", None)
        if ttft_ms is None and metrics is not None and metrics.time_to_first_token is not None:
            ttft_ms = metrics.time_to_first_token * 1000
        metadata: dict[str, Any] = dict(req.metadata) if req.metadata else {}
        if parsed is not None:
            metadata["parsed"] = parsed
        if req.user_id is not None:
            metadata["user_id"] = req.user_id
        return LLMResponse(
            content=content,
            model_id=req.model.id,
            provider=req.model.provider,
            tier=req.model.tier.value,
            usage=usage,
            cost=self.price(req.model, usage),
            latency_ms=(time.perf_counter() - started) * 1000,
            time_to_first_token_ms=ttft_ms,
            request_id=obs.request_id,
            finish_reason=obs.finish_reason,
            attempts=req.attempts if req.attempts is not None else [],
            call_id=req.call_id or new_id(),
            fallback_used=req.primary_ref is not None and req.primary_ref != req.model.ref,
            metadata=metadata,
        )

    def price(self, model: ModelInfo, usage: TokenUsage) -> Decimal:
        """Cost of `usage` on `model` from the registry."""
        cached = min(usage.cached_input, usage.input)
        return self.registry.estimate_cost(
            model, usage.input, usage.output, cached, min(usage.cache_write, usage.input - cached)
        )

    # --- one streamed attempt -------------------------------------------------------------

    async def stream_call(self, req: CallRequest) -> AsyncGenerator[StreamChunk, None]:
        """One streamed attempt. Raises a typed error before the first chunk (safe to fail over) or
        `StreamInterruptedError(after_first_token=True)` after it; never ends quietly on a cut stream.
        An error after a tool ran carries `tools_ran` (never repeated).
        """
        holder: dict[str, Any] = {}
        try:
            async with contextlib.aclosing(self._streamed(req, holder)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except ExecutionError as err:
            obs = holder.get("obs")
            err.tools_ran = err.tools_ran or (obs is not None and obs.tools_ran)
            raise

    async def _streamed(self, req: CallRequest, holder: dict[str, Any]) -> AsyncGenerator[StreamChunk, None]:
        started = time.perf_counter()
        agent, agno_input, state = self._agent(req, None)
        timeout, _ = self._timeout(req)
        stall = req.stall_timeout_seconds or timeout
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        checks_terminator = getattr(type(agent.model), "focal_hooks", None) is not None

        async def produce() -> None:
            with observe_call() as obs:
                holder["obs"] = obs
                if req.before_next_request is not None:
                    obs.before_next_request = _with_focal_messages(req.before_next_request)
                try:
                    async for item in agent.arun(
                        agno_input,
                        stream=True,
                        yield_run_output=True,
                        session_id=req.ctx.session_id,
                        user_id=req.user_id,
                        session_state=state,
                    ):
                        await queue.put(("item", item))
                except asyncio.CancelledError:
                    raise  # the consumer is gone
                except BaseException as exc:  # forwarded to the consumer
                    await queue.put(("raise", exc))
                    return
                await queue.put(("end", None))

        producer = asyncio.create_task(produce())
        parts: list[str] = []
        ttft_ms: float | None = None
        out: Any = None
        try:
            while True:
                wait = timeout if not parts else stall
                remaining = req.ctx.remaining()
                deadline_binds = remaining is not None and remaining < wait
                if deadline_binds:
                    wait = max(remaining, 0.0)  # type: ignore[type-var]
                try:
                    kind, item = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if deadline_binds:
                        late = DeadlineExceededError(
                            "the turn deadline passed while streaming", provider=req.model.provider, model=req.model.id
                        )
                        raise self._after_tokens(late, parts) from None
                    raise self._stream_fault(req, parts, "stalled" if parts else "no first token", wait) from None
                if kind == "raise":
                    exc = item
                    err = (
                        exc
                        if isinstance(exc, ProviderError)
                        else map_error(exc, req.model, self.registry, holder.get("obs"))
                    )
                    raise self._after_tokens(err, parts) from exc
                if kind == "end":
                    break
                if isinstance(item, RunOutput):
                    out = item
                    continue
                if isinstance(item, RunErrorEvent):
                    obs = holder.get("obs")
                    err = self._run_error(req, obs, item) if obs is not None else ProviderError(str(item.content))
                    raise self._after_tokens(err, parts)
                delta = getattr(item, "content", None)
                if isinstance(item, RunContentEvent) and isinstance(delta, str) and delta:
                    if ttft_ms is None:
                        ttft_ms = (time.perf_counter() - started) * 1000
                    parts.append(delta)
                    yield StreamChunk(delta=delta)
        finally:
            if not producer.done():
                producer.cancel()
                await asyncio.wait([producer])  # its outcome is already decided; don't raise it here
        obs = holder.get("obs")
        if out is None or out.status == RunStatus.error:
            err = (
                self._run_error(req, obs, out)
                if obs is not None
                else ProviderError("the stream ended without a result")
            )
            raise self._after_tokens(err, parts)
        if obs is not None and obs.finish_reason in _FILTERED:
            filtered = ContentFiltered(
                f"the provider filtered the answer (finish reason {obs.finish_reason!r})",
                provider=req.model.provider,
                model=req.model.id,
                request_id=obs.request_id,
            )
            err = self._after_tokens(filtered, parts)
            if checks_terminator and not obs.stream_terminated:
                raise err  # cut before its usage arrived: the executor charges it as a cut stream
            raise self._billed(err, req.model, usage_from_metrics(out.metrics, self._kind(req.model)))
        if checks_terminator and obs is not None and not obs.stream_terminated:
            raise self._stream_fault(req, parts, "ended without its terminator", None)
        usage = usage_from_metrics(out.metrics, self._kind(req.model))
        content = "".join(parts)
        estimated = usage.total == 0 and bool(content)  # a server that streams no usage (`stream_usage: false`)
        if estimated:
            usage = TokenUsage(
                input=estimate_prompt_tokens(req.messages, req.instructions), output=estimate_text_tokens(content)
            )
        response = self._response(req, content, usage, started, out, obs, ttft_ms=ttft_ms)
        if estimated:
            response.metadata["usage_estimated"] = True  # priced, never $0; the counts are estimates
        yield StreamChunk(done=True, response=response)

    @staticmethod
    def _after_tokens(err: ProviderError, parts: list[str]) -> ProviderError:
        if not parts:
            return err
        cut = StreamInterruptedError(
            f"stream failed after {len(parts)} chunk(s): {err.message}",
            partial_content="".join(parts),
            after_first_token=True,
            provider=err.provider,
            model=err.model,
            status_code=err.status_code,
            request_id=err.request_id,
        )
        cut.__cause__ = err
        cut.blames_provider = (
            err.blames_provider
        )  # a stream the caller's deadline cut is still not the provider's fault
        return cut

    @staticmethod
    def _stream_fault(req: CallRequest, parts: list[str], what: str, waited: float | None) -> ProviderError:
        detail = f" ({waited:.2f}s)" if waited is not None else ""
        if not parts and what == "no first token":
            return ProviderTimeoutError(
                f"no first token within{detail}", provider=req.model.provider, model=req.model.id
            )
        return StreamInterruptedError(
            f"stream {what}{detail} after {len(parts)} chunk(s)",
            partial_content="".join(parts),
            after_first_token=bool(parts),
            provider=req.model.provider,
            model=req.model.id,
        )


@dataclass(frozen=True, slots=True)
class _Limit:
    """An attempt's time limit: its length, when it ends (event-loop time), and whether the turn
    deadline is what sets it."""

    seconds: float
    ends_at: float
    deadline_binds: bool


def _with_focal_messages(
    callback: Callable[[tuple[Message, ...]], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """`callback` fed Agno's messages as Focal's (their text is what an estimate needs)."""

    async def before(agno_messages: Any) -> None:
        await callback(tuple(Message(Role.USER, _text_of(m)) for m in agno_messages or ()))

    return before


def _text_of(message: Any) -> str:
    """An Agno message's text as a request sends it: its content and any tool calls' arguments."""
    content = message.content if isinstance(message.content, str) else str(message.content or "")
    calls = getattr(message, "tool_calls", None)
    return f"{content}{json.dumps(calls, default=str)}" if calls else content


def _validate(content: Any, schema: type[BaseModel]) -> tuple[BaseModel | None, str, str]:
    """(validated object or None, raw text, error)."""
    if isinstance(content, schema):
        return content, content.model_dump_json(), ""
    if isinstance(content, BaseModel):
        content = content.model_dump_json()
    raw = content if isinstance(content, str) else json.dumps(content, default=str)
    text = _FENCE.sub("", raw.strip()).strip()
    try:
        return schema.model_validate_json(text), raw, ""
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        return None, raw, f"{where}: {first['msg']}"
