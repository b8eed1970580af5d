"""`ResilientExecutor`: the `LLMExecutor` Focal hands to hosts and workflow steps.

For each call it resolves the model (tenant override > agent catalog > task default), then walks
the hops `[model, *fallback_chain]`: an open circuit breaker skips a hop, each attempt is admitted
against the tenant's budget and cost limits first, retryable errors are retried with jittered
back-off (never past the deadline), a context-window error jumps to a model with a larger window,
and a 401 stops everything. Every attempt — skipped, failed or successful — becomes one
`LLMCallRecord`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from focal.execution._limits import CostGuard, Hold
from focal.execution._outcomes import attempt as outcome
from focal.execution._outcomes import exhausted_error
from focal.execution._planning import CallPlan, PlanCache
from focal.execution._records import CallRecorder
from focal.execution.adapter import AgnoExecutor, CallRequest
from focal.execution.breaker import BreakerState, CircuitBreakers, counts_against_breaker
from focal.execution.budgets import BudgetManager, CostLimits, LimitAction
from focal.execution.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    ContentFiltered,
    ContextWindowExceeded,
    DeadlineExceededError,
    ExecutionError,
    ProviderError,
    StreamInterruptedError,
    StructuredOutputError,
)
from focal.execution.fallback import FallbackPolicy
from focal.execution.retry import RetryPolicy
from focal.execution.types import Attempt, ExecutionContext, LLMResponse, Message, StreamChunk, to_messages
from focal.logging import bind_context, get_logger
from focal.routing import ModelInfo, ModelResolver
from focal.telemetry.records import CallStatus, LLMCallRecord

__all__ = ["CallPlan", "ResilientExecutor"]

log = get_logger("focal.executor")
S = TypeVar("S", bound=BaseModel)
Recorder = Callable[[LLMCallRecord], None]
Prompt = str | Message | Sequence[Message | dict[str, Any]]

_DEFAULT_MAX_OUTPUT = 4096


@dataclass(slots=True)
class _CallState:
    ctx: ExecutionContext
    plan: CallPlan
    messages: tuple[Message, ...]
    instructions: str | None
    attempts: list[Attempt] = field(default_factory=list)
    last_error: BaseException | None = None
    budget_error: BudgetExceededError | None = None


class ResilientExecutor:
    """Retries, fallbacks, breakers, deadlines, budgets and call records around `AgnoExecutor`."""

    def __init__(
        self,
        caller: AgnoExecutor,
        resolver: ModelResolver,
        *,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        budgets: BudgetManager | None = None,
        cost_limits: CostLimits | None = None,
        recorder: Recorder | None = None,
        fallback: FallbackPolicy | None = None,
        stall_timeout_seconds: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.caller = caller
        self.resolver = resolver
        self.registry = resolver.registry
        self.retry = retry or RetryPolicy()
        self.breakers = breakers or CircuitBreakers()
        self.fallback = fallback or FallbackPolicy()  # also builds the plan cache
        self.guard = CostGuard(self.registry, budgets, cost_limits or CostLimits())
        self._recorder = CallRecorder(self.registry, recorder) if recorder is not None else None
        self.stall_timeout_seconds = stall_timeout_seconds
        self._sleep = sleep

    # --- public API ------------------------------------------------------------------------

    async def run(
        self,
        prompt: Prompt,
        ctx: ExecutionContext,
        *,
        instructions: str | None = None,
        tools: Sequence[Any] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> LLMResponse:
        """Run a call to completion.

        Raises:
            ConfigurationError: the context lacks tenant, agent or step, or names an unknown one.
            AuthenticationError: the provider refused the key (no retry, no fallback).
            BadRequestError: the request is invalid for the provider.
            BudgetExceededError: the tenant's budget or a cost limit refuses every option.
            CircuitOpenError: every hop's breaker is open (nothing was sent).
            DeadlineExceededError: the deadline passed.
            AllAttemptsFailedError: every hop failed; `.last` is the final error.
        """
        state = await self._start(prompt, ctx, instructions, max_tokens, temperature)
        return await self._execute(state, tools, None)

    async def run_structured(
        self,
        prompt: Prompt,
        schema: type[S],
        ctx: ExecutionContext,
        *,
        instructions: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> tuple[S, LLMResponse]:
        """Run a call whose answer must validate against `schema`.

        Raises:
            StructuredOutputError: the answer did not validate, even after one re-ask (`raw_text` kept).
            (and every error of `run`)
        """
        state = await self._start(prompt, ctx, instructions, max_tokens, temperature)
        response = await self._execute(state, (), schema)
        parsed = response.metadata.get("parsed")
        if not isinstance(parsed, schema):  # pragma: no cover - the adapter guarantees it
            raise StructuredOutputError("no validated object", raw_text=response.content, schema_name=schema.__name__)
        return parsed, response

    async def stream(
        self,
        prompt: Prompt,
        ctx: ExecutionContext,
        *,
        instructions: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream a call. Fails over while nothing has been sent; after the first chunk a fault
        ends the stream with `StreamInterruptedError`. The last chunk (`done=True`) carries the response.
        """
        state = await self._start(prompt, ctx, instructions, max_tokens, temperature)
        with bind_context(
            tenant_id=ctx.tenant_id, agent_id=ctx.agent_id, session_id=ctx.session_id, step=ctx.step_name
        ):
            async with aclosing(self._stream(state)) as chunks:  # a caller that stops reading closes it all
                async for chunk in chunks:
                    yield chunk

    @property
    def fallback(self) -> FallbackPolicy:
        """The fallback policy (assignable; cached plans are dropped)."""
        return self._fallback

    @fallback.setter
    def fallback(self, policy: FallbackPolicy) -> None:
        self._fallback = policy
        self._plans = PlanCache(self.resolver, policy)

    def end_run(self, run_id: str) -> Decimal:
        """Forget a run's spend tracking; returns what it spent."""
        return self.guard.end_run(run_id)

    @property
    def cost_limits(self) -> CostLimits:
        """Per-run / per-step limits (assignable)."""
        return self.guard.limits

    @cost_limits.setter
    def cost_limits(self, limits: CostLimits) -> None:
        self.guard.limits = limits

    # --- planning --------------------------------------------------------------------------

    async def _start(
        self,
        prompt: Prompt,
        ctx: ExecutionContext,
        instructions: str | None,
        max_tokens: int | None,
        temperature: float | None,
    ) -> _CallState:
        if not isinstance(ctx, ExecutionContext):
            raise ConfigurationError("ctx must be an ExecutionContext")
        ctx.require_call_fields()
        messages = to_messages(prompt)
        plan = await self.plan(ctx)
        params = plan.params
        if max_tokens is not None or temperature is not None:
            params = replace(
                params,
                max_tokens=max_tokens or params.max_tokens,
                temperature=temperature if temperature is not None else params.temperature,
            )
            plan = replace(plan, params=params)
        return _CallState(ctx=ctx, plan=plan, messages=messages, instructions=instructions)

    async def plan(self, ctx: ExecutionContext) -> CallPlan:
        """Resolve the hops for a context (tenant override > catalog > task default; then hints)."""
        return await self._plans.plan(ctx)

    # --- the hop / attempt loop -----------------------------------------------------------

    async def _execute(self, state: _CallState, tools: Sequence[Any], schema: type[BaseModel] | None) -> LLMResponse:
        ctx = state.ctx
        with bind_context(
            tenant_id=ctx.tenant_id, agent_id=ctx.agent_id, session_id=ctx.session_id, step=ctx.step_name
        ):
            async with aclosing(self._attempt_slots(state)) as slots:
                async for model, hop, number, cause in slots:
                    response = await self._attempt(state, model, hop, number, cause, tools, schema)
                    if response is not None:
                        return response
        raise self._exhausted(state)

    async def _attempt(
        self,
        state: _CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        tools: Sequence[Any],
        schema: type[BaseModel] | None,
    ) -> LLMResponse | None:
        breaker = self.breakers.get(model.breaker_key)
        hold = await self._admit(state, model, hop, number, cause)
        if hold is None:
            breaker.release_probe()  # allow() may have handed this attempt the half-open probe
            return None
        req = self._request(state, model, tools, schema)
        started = time.perf_counter()
        try:
            response = await self.caller.call(req)
        except (ProviderError, StructuredOutputError) as err:
            if hold.pending:
                await self.guard.settle(hold, Decimal(0))
            self._failed(state, model, hop, number, cause, err, breaker, started)
            return None
        except BaseException as exc:  # cancelled: the request may have been billed
            await self._abandoned(state, model, hop, number, cause, exc, breaker, started, hold)
            raise
        if hold.pending:
            await self.guard.settle(hold, response.cost)
        return self._succeeded(state, model, hop, number, cause, response, breaker)

    async def _stream(self, state: _CallState) -> AsyncIterator[StreamChunk]:
        async with aclosing(self._attempt_slots(state)) as slots:
            async for model, hop, number, cause in slots:
                async with aclosing(self._stream_attempt(state, model, hop, number, cause)) as chunks:
                    async for chunk in chunks:
                        yield chunk
                        if chunk.done:
                            return
        raise self._exhausted(state)

    async def _stream_attempt(
        self, state: _CallState, model: ModelInfo, hop: int, number: int, cause: str | None
    ) -> AsyncIterator[StreamChunk]:
        breaker = self.breakers.get(model.breaker_key)
        hold = await self._admit(state, model, hop, number, cause)
        if hold is None:
            breaker.release_probe()
            return
        req = replace(self._request(state, model, (), None), stall_timeout_seconds=self.stall_timeout_seconds)
        started = time.perf_counter()
        sent_any = False
        final: LLMResponse | None = None
        try:
            async with aclosing(self.caller.stream_call(req)) as chunks:
                async for chunk in chunks:
                    if chunk.done:
                        final = chunk.response
                        break
                    sent_any = True
                    yield chunk
        except ProviderError as err:
            if hold.pending:
                await self.guard.settle(hold, Decimal(0))
            self._failed(state, model, hop, number, cause, err, breaker, started)
            if sent_any:
                # the caller already has part of the answer: never pass it off as complete
                if isinstance(err, StreamInterruptedError):
                    raise err
                raise StreamInterruptedError(
                    f"stream failed after the first token: {err}",
                    after_first_token=True,
                    provider=err.provider,
                    model=err.model,
                    status_code=err.status_code,
                ) from err
            return
        except BaseException as exc:  # the caller stopped reading, or the task was cancelled
            await self._abandoned(state, model, hop, number, cause, exc, breaker, started, hold)
            raise
        assert final is not None
        if hold.pending:
            await self.guard.settle(hold, final.cost)
        yield StreamChunk(
            done=True, response=self._succeeded(state, model, hop, number, cause, final, breaker, streamed=True)
        )

    async def _attempt_slots(self, state: _CallState) -> AsyncIterator[tuple[ModelInfo, int, int, str | None]]:
        """Yield (model, hop, attempt number, cause) for every attempt that may be made, in order.

        Reads `state.last_error` after each yield to decide: retry (with back-off), next hop, or stop.
        """
        hops = state.plan.hops  # shared: a budget downgrade inserts a cheaper hop while we walk it
        cause: str | None = None
        window_floor = 0
        hop = 0
        while hop < len(hops):
            model = hops[hop]
            if model.context_window <= window_floor:
                self._skip(state, model, hop, cause, "context_window_too_small", None)
                hop += 1
                continue
            breaker = self.breakers.get(model.breaker_key)
            number = 1
            while True:
                self._check_deadline(state, model)
                if not breaker.allow():
                    self._skip(state, model, hop, cause, "circuit_open", breaker.state)
                    cause = "circuit_open"
                    break
                before = len(state.attempts)
                state.last_error = None
                yield model, hop, number, cause
                if len(state.attempts) == before:  # admission refused the slot without a record
                    break
                err = state.last_error
                if err is None:
                    if state.attempts[-1].status == CallStatus.SKIPPED:  # budget refused this hop
                        cause = state.attempts[-1].cause or "budget"
                        break
                    return  # success
                if isinstance(err, AuthenticationError | BadRequestError | StructuredOutputError):
                    err.attempts = list(state.attempts)  # type: ignore[union-attr]
                    raise err
                if isinstance(err, ContextWindowExceeded):
                    window_floor = max(window_floor, model.context_window)
                    if not any(m.context_window > window_floor for m in hops[hop + 1 :]):
                        bigger = self.fallback.larger_window(self.registry, model, hops)
                        if bigger is not None:
                            hops.append(bigger)
                    cause = type(err).__name__
                    break
                if isinstance(err, ContentFiltered):
                    if not self.fallback.on_content_filter:
                        err.attempts = list(state.attempts)  # type: ignore[attr-defined]
                        raise err
                    cause = type(err).__name__
                    break
                if self.retry.is_retryable(err) and number < self.retry.max_attempts:
                    delay = self.retry.delay(number, err)
                    remaining = state.ctx.remaining()
                    if delay is not None and (remaining is None or delay < remaining):
                        await self._sleep(delay)
                        number += 1
                        continue
                cause = type(err).__name__
                break
            hop += 1

    def _check_deadline(self, state: _CallState, model: ModelInfo) -> None:
        remaining = state.ctx.remaining()
        if remaining is not None and remaining <= 0:
            err = DeadlineExceededError(
                "the turn deadline passed before the call could finish", provider=model.provider, model=model.id
            )
            err.attempts = list(state.attempts)  # type: ignore[attr-defined]
            raise err

    # --- budgets and limits ---------------------------------------------------------------

    async def _admit(
        self, state: _CallState, model: ModelInfo, hop: int, number: int, cause: str | None
    ) -> Hold | None:
        """Hold this attempt's estimated cost. None: refused (a skipped attempt was recorded)."""
        if not self.guard.active:
            return Hold()  # nothing enforced: no estimate, no await
        max_tokens = state.plan.params.max_tokens or min(model.max_output_tokens, _DEFAULT_MAX_OUTPUT)
        try:
            return await self.guard.admit(state.ctx, model, state.messages, state.instructions, max_tokens)
        except BudgetExceededError as err:
            if hop == 0 and number == 1 and await self.guard.action_for(err) is LimitAction.DOWNGRADE:
                cheaper = self.guard.cheaper(model)
                if cheaper is not None and cheaper.ref not in {m.ref for m in state.plan.hops}:
                    state.plan.hops.insert(1, cheaper)
            state.budget_error = err
            self._skip(state, model, hop, cause, "budget", None, error=err)
            return None

    # --- outcomes and records -------------------------------------------------------------

    def _request(
        self, state: _CallState, model: ModelInfo, tools: Sequence[Any], schema: type[BaseModel] | None
    ) -> CallRequest:
        params = state.plan.params
        if params.max_tokens is not None and params.max_tokens > model.max_output_tokens:
            params = replace(params, max_tokens=model.max_output_tokens)
        return CallRequest(
            messages=state.messages,
            model=model,
            ctx=state.ctx,
            params=params,
            instructions=state.instructions,
            output_schema=schema,
            tools=tuple(tools),
            attempts=state.attempts,
            primary_ref=state.plan.hops[0].ref,
            metadata=self._resolution_metadata(state),
        )

    async def _abandoned(
        self,
        state: _CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        exc: BaseException,
        breaker: Any,
        started: float,
        hold: Hold,
    ) -> None:
        """An attempt cut short by its caller: no verdict for the breaker, the held estimate is charged
        (the provider may bill what it produced), and the attempt is recorded."""
        breaker.release_probe()
        await self.guard.settle(hold, hold.estimate)
        attempt = outcome(
            model,
            hop=hop,
            number=number,
            status=CallStatus.ERROR,
            cause=cause,
            breaker_state=breaker.state.value,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=exc,
            message="abandoned by the caller",
        )
        state.attempts.append(attempt)
        self._record(state, model, attempt, None)

    @staticmethod
    def _resolution_metadata(state: _CallState) -> dict[str, Any]:
        return {"resolution_source": state.plan.source, "resolution_reason": state.plan.reason}

    def _failed(
        self,
        state: _CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        err: BaseException,
        breaker: Any,
        started: float,
    ) -> None:
        if counts_against_breaker(err):
            breaker.record_failure()
        else:
            breaker.release_probe()
        state.last_error = err
        latency = (time.perf_counter() - started) * 1000
        attempt = outcome(
            model,
            hop=hop,
            number=number,
            status=CallStatus.ERROR,
            cause=cause,
            breaker_state=breaker.state.value,
            latency_ms=latency,
            error=err,
        )
        state.attempts.append(attempt)
        log.warning(
            "llm_call_failed",
            model=model.ref,
            hop=hop,
            attempt=number,
            error=type(err).__name__,
            detail=str(err)[:300],
            breaker=breaker.state.value,
        )
        self._record(state, model, attempt, None)

    def _succeeded(
        self,
        state: _CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        response: LLMResponse,
        breaker: Any,
        *,
        streamed: bool = False,
    ) -> LLMResponse:
        breaker.record_success()
        attempt = outcome(
            model,
            hop=hop,
            number=number,
            status=CallStatus.SUCCESS,
            cause=cause,
            breaker_state=breaker.state.value,
            latency_ms=response.latency_ms,
        )
        state.attempts.append(attempt)
        final = response
        if response.attempts is not state.attempts:  # an inner executor that does not fill them in itself
            final = replace(
                response,
                attempts=state.attempts,
                fallback_used=model.ref != state.plan.hops[0].ref,
                metadata={**response.metadata, **self._resolution_metadata(state)},
            )
        log.info(
            "llm_call",
            model=model.ref,
            hop=hop,
            attempt=number,
            input_tokens=response.usage.input,
            output_tokens=response.usage.output,
            cost_usd=str(response.cost),
            latency_ms=round(response.latency_ms, 2),
        )
        self._record(state, model, attempt, final, streamed=streamed)
        return final

    def _skip(
        self,
        state: _CallState,
        model: ModelInfo,
        hop: int,
        cause: str | None,
        why: str,
        breaker_state: BreakerState | None,
        *,
        error: BaseException | None = None,
    ) -> None:
        attempt = outcome(
            model,
            hop=hop,
            number=0,
            status=CallStatus.SKIPPED,
            cause=why if why != "context_window_too_small" else cause,
            breaker_state=breaker_state.value if breaker_state else None,
            error=error,
            message=None if error is not None else why,
        )
        state.attempts.append(attempt)
        self._record(state, model, attempt, None)

    def _exhausted(self, state: _CallState) -> ExecutionError:
        return exhausted_error(state.attempts, state.last_error, state.budget_error)

    def _record(
        self,
        state: _CallState,
        model: ModelInfo,
        attempt: Attempt,
        response: LLMResponse | None,
        *,
        streamed: bool = False,
    ) -> None:
        if self._recorder is not None:
            plan = state.plan
            self._recorder.record(
                state.ctx,
                task_type=plan.task_type,
                source=plan.source,
                reason=plan.reason,
                model=model,
                attempt=attempt,
                response=response,
                streamed=streamed,
            )
