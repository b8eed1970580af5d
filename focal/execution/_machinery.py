"""The attempt machinery under `ResilientExecutor`: walk a call's hops, admit, send, record, judge.

`CallMachinery` holds no public API: `ResilientExecutor` (resilient.py) plans a call into a `CallState`
and hands it to `_execute` (one answer) or `_stream` (chunks). Each attempt is admitted against the
budget, sent through the `AgnoExecutor`, and becomes one `LLMCallRecord`; `AttemptSchedule` decides
what comes next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any

from pydantic import BaseModel

from focal._ids import new_id
from focal.execution._billing import failure_charge, worst_case_charge
from focal.execution._call_agents import AgentTemplate
from focal.execution._limits import CostGuard, Hold
from focal.execution._outcomes import attempt as outcome
from focal.execution._outcomes import exhausted_error
from focal.execution._planning import CallPlan, OutputCaps
from focal.execution._planning import max_output as _max_output
from focal.execution._records import CallRecorder
from focal.execution._schedule import AttemptSchedule
from focal.execution.adapter import AgnoExecutor, CallRequest
from focal.execution.breaker import BreakerState, BreakerTicket, CircuitBreakers, counts_against_breaker
from focal.execution.budgets import LimitAction
from focal.execution.errors import (
    BudgetExceededError,
    BudgetUnavailableError,
    DeadlineExceededError,
    ExecutionError,
    ProviderError,
    StreamInterruptedError,
    StructuredOutputError,
)
from focal.execution.fallback import FallbackPolicy
from focal.execution.retry import RetryPolicy
from focal.execution.types import Attempt, ExecutionContext, LLMResponse, Message, StreamChunk, TokenUsage
from focal.logging import bind_context, get_logger
from focal.routing import ModelInfo, ModelRegistry
from focal.telemetry.records import CallStatus

__all__ = ["NOTHING_HELD", "CallMachinery", "CallState"]

log = get_logger("focal.executor")

NOTHING_HELD = Hold()
"""The hold of an attempt when no budget or limit is enforced."""


@dataclass(slots=True)
class CallState:
    """One call: what it sends, to which hops, and how its attempts went."""

    ctx: ExecutionContext
    plan: CallPlan
    messages: tuple[Message, ...]
    instructions: str | None
    """The instructions sent (with a template: its text, for estimates)."""
    tools: tuple[Any, ...] = ()
    schema: type[BaseModel] | None = None
    template: AgentTemplate | None = None
    session_state: dict[str, Any] | None = None
    user_id: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    last_error: BaseException | None = None
    budget_error: BudgetExceededError | None = None
    call_id: str = field(default_factory=new_id)
    """Shared by every attempt's record and the answering response."""


class CallMachinery:
    """Attempts, their admission and their records (`ResilientExecutor` sets these attributes)."""

    caller: AgnoExecutor
    registry: ModelRegistry
    retry: RetryPolicy
    breakers: CircuitBreakers
    guard: CostGuard
    stall_timeout_seconds: float
    _recorder: CallRecorder | None
    _caps: OutputCaps
    _sleep: Callable[[float], Awaitable[None]]

    fallback: FallbackPolicy

    # --- the hop / attempt loop -----------------------------------------------------------

    async def _execute(self, state: CallState) -> LLMResponse:
        ctx = state.ctx
        with bind_context(
            tenant_id=ctx.tenant_id, agent_id=ctx.agent_id, session_id=ctx.session_id, step=ctx.step_name
        ):
            async for model, hop, number, cause, ticket in AttemptSchedule(self, state):
                response = await self._attempt(state, model, hop, number, cause, ticket)
                if response is not None:
                    return response
        raise self._exhausted(state)

    async def _attempt(
        self,
        state: CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        ticket: BreakerTicket,
    ) -> LLMResponse | None:
        breaker = self.breakers.get(model.breaker_key)
        started = time.perf_counter()
        hold: Hold | None = None
        try:
            hold = await self._admit(state, model, hop, number, cause) if self.guard.active else NOTHING_HELD
            if hold is None:
                breaker.release_probe(ticket)  # admission may have handed this attempt the half-open probe
                return None
            req = self._request(state, model, hold)
            started = time.perf_counter()
            response = await self.caller.call(req)
        except (ProviderError, StructuredOutputError, BudgetExceededError, BudgetUnavailableError) as err:
            charge, priced_as = self._charge(state, model, err, hold)
            self._failed(state, model, hop, number, cause, err, breaker, started, ticket, priced_as=priced_as)
            await self.guard.settle_safely(hold, charge)
            return None
        except BaseException as exc:  # cancelled (admitting or waiting): the request may have been billed
            await self._abandoned(state, model, hop, number, cause, exc, breaker, started, hold, ticket)
            raise
        try:
            if hold is not None and hold.pending:
                await self.guard.settle_safely(hold, response.cost)
        finally:  # recorded (and the breaker told) even if the caller is cancelled while settling
            final = self._succeeded(state, model, hop, number, cause, response, breaker, ticket)
        return final

    async def _stream(self, state: CallState) -> AsyncGenerator[StreamChunk, None]:
        async for model, hop, number, cause, ticket in AttemptSchedule(self, state):
            async with aclosing(self._stream_attempt(state, model, hop, number, cause, ticket)) as chunks:
                async for chunk in chunks:
                    yield chunk
                    if chunk.done:
                        return
        raise self._exhausted(state)

    async def _stream_attempt(
        self, state: CallState, model: ModelInfo, hop: int, number: int, cause: str | None, ticket: BreakerTicket
    ) -> AsyncGenerator[StreamChunk, None]:
        breaker = self.breakers.get(model.breaker_key)
        started = time.perf_counter()
        hold: Hold | None = None
        sent_any = False
        final: LLMResponse | None = None
        try:
            hold = await self._admit(state, model, hop, number, cause) if self.guard.active else NOTHING_HELD
            if hold is None:
                breaker.release_probe(ticket)
                return
            req = replace(self._request(state, model, hold), stall_timeout_seconds=self.stall_timeout_seconds)
            started = time.perf_counter()
            async with aclosing(self.caller.stream_call(req)) as chunks:
                async for chunk in chunks:
                    if chunk.done:
                        final = chunk.response
                        break
                    sent_any = True
                    yield chunk
        except ProviderError as err:
            charge, priced_as = self._charge(state, model, err, hold)
            self._failed(
                state, model, hop, number, cause, err, breaker, started, ticket, streamed=True, priced_as=priced_as
            )
            await self.guard.settle_safely(hold, charge)
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
            await self._abandoned(state, model, hop, number, cause, exc, breaker, started, hold, ticket, streamed=True)
            raise
        assert final is not None
        try:
            if hold is not None and hold.pending:
                await self.guard.settle_safely(hold, final.cost)
        finally:
            done = self._succeeded(state, model, hop, number, cause, final, breaker, ticket, streamed=True)
        yield StreamChunk(done=True, response=done)

    def _check_deadline(self, state: CallState, model: ModelInfo) -> None:
        remaining = state.ctx.remaining()
        if remaining is not None and remaining <= 0:
            err = DeadlineExceededError(
                "the turn deadline passed before the call could finish", provider=model.provider, model=model.id
            )
            err.attempts = list(state.attempts)  # type: ignore[attr-defined]
            raise err

    # --- budgets and limits ---------------------------------------------------------------

    async def _admit(self, state: CallState, model: ModelInfo, hop: int, number: int, cause: str | None) -> Hold | None:
        """Hold this attempt's estimated cost. None: refused (a skipped attempt was recorded)."""
        if not self.guard.active:
            return NOTHING_HELD  # nothing enforced: no estimate, no await
        max_tokens = _max_output(state.plan.params, model)  # the cap `_request` sends: estimate == worst case
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

    def _request(self, state: CallState, model: ModelInfo, hold: Hold | None = None) -> CallRequest:
        params = state.plan.params
        max_tokens = _max_output(params, model)
        params = self._caps.capped(params, max_tokens)
        admit_round = None  # with tools, each later round of the loop is admitted too
        if state.tools and hold is not None and hold is not NOTHING_HELD:
            admit_round = partial(self.guard.admit_round, hold, state.ctx, model, max_tokens=max_tokens)
        return CallRequest(
            messages=state.messages,
            model=model,
            ctx=state.ctx,
            params=params,
            instructions=state.instructions,
            output_schema=state.schema,
            tools=state.tools,
            attempts=state.attempts,
            call_id=state.call_id,
            primary_ref=state.plan.hops[0].ref,
            metadata=state.plan.metadata,
            before_next_request=admit_round,
            template=state.template,
            session_state=state.session_state,
            user_id=state.user_id,
        )

    async def _abandoned(
        self,
        state: CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        exc: BaseException,
        breaker: Any,
        started: float,
        hold: Hold | None,
        ticket: BreakerTicket,
        *,
        streamed: bool = False,
    ) -> None:
        """An attempt cut short by its caller: no verdict for the breaker; once sent, it is charged and
        recorded at its worst case (the provider may bill what it produced; the tokens are unknown),
        before admission nothing is charged. Recorded before anything is awaited."""
        breaker.release_probe(ticket)
        charge, priced_as = self._worst_case(state, model, hold) if hold is not None else (Decimal(0), None)
        attempt = outcome(
            model,
            hop=hop,
            number=number,
            status=CallStatus.ERROR,
            cause=cause,
            breaker_state=breaker.state.value,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=exc,
            message="abandoned by the caller" if isinstance(exc, asyncio.CancelledError | GeneratorExit) else None,
        )
        state.attempts.append(attempt)
        if isinstance(exc, ExecutionError):  # not a cancellation: the caller gets the attempts as well
            exc.attempts = list(state.attempts)  # type: ignore[attr-defined]
        self._record(state, model, attempt, None, streamed=streamed, cost=charge, priced_as=priced_as)
        await self.guard.settle_safely(hold, charge)

    def _charge(
        self, state: CallState, model: ModelInfo, err: ExecutionError, hold: Hold | None
    ) -> tuple[Decimal, TokenUsage | None]:
        """A failed attempt's charge, and the tokens it assumes when the real ones are unknown."""
        charge = failure_charge(err, model, self.caller.price, state.messages, state.instructions)
        if not charge and err.tools_ran:  # a tool loop cut after rounds that answered: billed, unknown
            charge, priced_as = self._worst_case(state, model, hold)
            err.cost = charge
            return charge, priced_as
        return charge, None

    def _worst_case(self, state: CallState, model: ModelInfo, hold: Hold | None) -> tuple[Decimal, TokenUsage]:
        max_tokens = _max_output(state.plan.params, model)
        return worst_case_charge(self.registry, model, state.messages, state.instructions, max_tokens, hold)

    def _failed(
        self,
        state: CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        err: BaseException,
        breaker: Any,
        started: float,
        ticket: BreakerTicket,
        *,
        streamed: bool = False,
        priced_as: TokenUsage | None = None,
    ) -> None:
        if counts_against_breaker(err):
            breaker.record_failure(ticket)
        else:
            breaker.release_probe(ticket)
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
        self._record(state, model, attempt, None, error=err, streamed=streamed, priced_as=priced_as)

    def _succeeded(
        self,
        state: CallState,
        model: ModelInfo,
        hop: int,
        number: int,
        cause: str | None,
        response: LLMResponse,
        breaker: Any,
        ticket: BreakerTicket,
        *,
        streamed: bool = False,
    ) -> LLMResponse:
        breaker.record_success(ticket)
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
                call_id=state.call_id,
                fallback_used=model.ref != state.plan.hops[0].ref,
                metadata={**response.metadata, **state.plan.metadata},
            )
        if log.is_enabled_for(logging.INFO):  # the arguments cost more than a filtered call
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
        state: CallState,
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

    def _exhausted(self, state: CallState) -> ExecutionError:
        remaining = state.ctx.remaining()
        deadline_passed = remaining is not None and remaining <= 0
        return exhausted_error(state.attempts, state.last_error, state.budget_error, deadline_passed=deadline_passed)

    def _record(
        self,
        state: CallState,
        model: ModelInfo,
        attempt: Attempt,
        response: LLMResponse | None,
        *,
        streamed: bool = False,
        error: BaseException | None = None,
        cost: Decimal | None = None,
        priced_as: TokenUsage | None = None,
    ) -> None:
        if self._recorder is not None:
            plan = state.plan
            self._recorder.record(
                state.ctx,
                call_id=state.call_id,
                task_type=plan.task_type,
                source=plan.source,
                reason=plan.reason,
                model=model,
                attempt=attempt,
                response=response,
                streamed=streamed,
                error=error,
                cost=cost,
                priced_as=priced_as,
            )
