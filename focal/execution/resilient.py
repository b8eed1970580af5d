"""`ResilientExecutor`: the `LLMExecutor` Focal hands to hosts and workflow steps.

For each call it resolves the model (tenant override > agent catalog > task default), then walks
the hops `[model, *fallback_chain]`: an open circuit breaker skips a hop, each attempt is admitted
against the tenant's budget and cost limits first, retryable errors are retried with jittered
back-off (never past the deadline), a context-window error jumps to a model with a larger window,
and a 401 stops everything. Every attempt — skipped, failed or successful — becomes one
`LLMCallRecord` (the attempt machinery is in `_machinery.py`).

A step's own Agno `Agent` definition (no model, no db) runs through `run_agent`: each attempt runs a
per-call copy of it on the attempt's model. Tools see the caller's `session_state` behind a guard on
the tenant fields (`_tool_state.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from agno.agent import Agent
from pydantic import BaseModel

from focal.execution._call_agents import AgentTemplate
from focal.execution._limits import CostGuard
from focal.execution._machinery import CallMachinery, CallState
from focal.execution._planning import CallPlan, OutputCaps, PlanCache
from focal.execution._records import CallRecorder
from focal.execution._tool_state import claim_state
from focal.execution.adapter import AgnoExecutor
from focal.execution.breaker import CircuitBreakers
from focal.execution.budgets import BudgetManager, CostLimits
from focal.execution.errors import ConfigurationError, StructuredOutputError
from focal.execution.fallback import FallbackPolicy
from focal.execution.retry import RetryPolicy
from focal.execution.types import ExecutionContext, LLMResponse, Message, StreamChunk, to_messages
from focal.logging import bind_context
from focal.routing import ModelResolver
from focal.telemetry.records import LLMCallRecord

__all__ = ["CallPlan", "ResilientExecutor"]

S = TypeVar("S", bound=BaseModel)
Recorder = Callable[[LLMCallRecord], None]
Prompt = str | Message | Sequence[Message | dict[str, Any]]


class ResilientExecutor(CallMachinery):
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
        self._caps = OutputCaps()
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
        session_state: dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> LLMResponse:
        """Run a call to completion.

        Args:
            tools: Agno tools the model may call (an attempt whose tools ran is never repeated).
            session_state: the caller's state; the tools read and write it through
                `run_context.session_state` (its tenant fields are set from `ctx` and stay so).
            user_id: passed to Agno's run (`run_context.user_id`), and in the response's metadata.

        Raises:
            ConfigurationError: the context lacks tenant, agent or step, or names an unknown one;
                `session_state` holds another tenant's fields.
            AuthenticationError: the provider refused the key (no retry, no fallback).
            BadRequestError: the request is invalid for the provider.
            BudgetExceededError: the tenant's budget or a cost limit refuses every option.
            CircuitOpenError: every hop's breaker is open (nothing was sent).
            DeadlineExceededError: the deadline passed.
            AllAttemptsFailedError: every hop failed; `.last` is the final error.
        """
        state = await self._start(
            prompt,
            ctx,
            instructions=instructions,
            tools=tools,
            max_tokens=max_tokens,
            temperature=temperature,
            session_state=session_state,
            user_id=user_id,
        )
        return await self._execute(state)

    async def run_structured(
        self,
        prompt: Prompt,
        schema: type[S],
        ctx: ExecutionContext,
        *,
        instructions: str | None = None,
        tools: Sequence[Any] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        session_state: dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> tuple[S, LLMResponse]:
        """Run a call whose answer must validate against `schema` (arguments as `run`).

        Raises:
            StructuredOutputError: the answer did not validate, even after one re-ask (`raw_text` kept;
                the re-ask offers no tools once one ran).
            (and every error of `run`)
        """
        state = await self._start(
            prompt,
            ctx,
            instructions=instructions,
            tools=tools,
            schema=schema,
            max_tokens=max_tokens,
            temperature=temperature,
            session_state=session_state,
            user_id=user_id,
        )
        response = await self._execute(state)
        return _parsed(response, schema), response

    async def run_agent(
        self,
        agent: Agent,
        input: Prompt,
        ctx: ExecutionContext,
        *,
        session_state: dict[str, Any] | None = None,
        user_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> tuple[Any, LLMResponse]:
        """Run a step's Agno Agent definition (a template: no model, no db) on the resolved model.

        Each attempt runs a fresh copy with the template's instructions (description, expected output,
        additional context…), output schema and tools on that attempt's model; the template is never
        changed, so one definition serves every tenant at once. Other arguments as `run`.

        Returns:
            (the validated `output_schema` object, or the text if the agent has none; the response).

        Raises:
            ConfigurationError: the agent has a model, a db, or what a per-call copy cannot keep.
            StructuredOutputError: the answer did not validate, even after one re-ask.
            (and every error of `run`)
        """
        template = AgentTemplate.of(agent)
        state = await self._start(
            input,
            ctx,
            template=template,
            max_tokens=max_tokens,
            temperature=temperature,
            session_state=session_state,
            user_id=user_id,
        )
        response = await self._execute(state)
        if template.output_schema is None:
            return response.content, response
        return _parsed(response, template.output_schema), response

    async def stream(
        self,
        prompt: Prompt,
        ctx: ExecutionContext,
        *,
        instructions: str | None = None,
        tools: Sequence[Any] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        session_state: dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream a call (arguments as `run`). Fails over while nothing has been sent (and no tool ran);
        after the first chunk a fault ends the stream with `StreamInterruptedError`. The last chunk
        (`done=True`) carries the response.
        """
        state = await self._start(
            prompt,
            ctx,
            instructions=instructions,
            tools=tools,
            max_tokens=max_tokens,
            temperature=temperature,
            session_state=session_state,
            user_id=user_id,
        )
        bound = {"tenant_id": ctx.tenant_id, "agent_id": ctx.agent_id, "session_id": ctx.session_id}
        chunks = self._stream(state)
        try:
            while True:
                # bound while the stream works, never across a yield: the caller's own context (and
                # whatever it does between chunks, e.g. another tenant's call) stays its own
                with bind_context(**bound, step=ctx.step_name):
                    try:
                        chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        return
                yield chunk
        finally:  # a caller that stops reading closes it all, its records and logs still bound to the call
            with bind_context(**bound, step=ctx.step_name):
                await chunks.aclose()

    @property
    def fallback(self) -> FallbackPolicy:
        """The fallback policy (assignable; cached plans are dropped)."""
        return self._fallback

    @fallback.setter
    def fallback(self, policy: FallbackPolicy) -> None:
        self._fallback = policy
        self._plans = PlanCache(self.resolver, policy)

    async def drain(self) -> None:
        """Wait for budget bookkeeping that outlived cancelled calls (call before closing the database)."""
        await self.guard.drain()

    def end_run(self, run_id: str, tenant_id: str) -> Decimal:
        """Forget a run's spend tracking (per-run cost limit); returns what it spent."""
        return self.guard.end_run(run_id, tenant_id)

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
        *,
        instructions: str | None = None,
        tools: Sequence[Any] = (),
        schema: type[BaseModel] | None = None,
        template: AgentTemplate | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        session_state: dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> CallState:
        """Check and plan a call (a template brings its text, schema and tools)."""
        if not isinstance(ctx, ExecutionContext):
            raise ConfigurationError("ctx must be an ExecutionContext")
        ctx.require_call_fields()
        if user_id is not None and not isinstance(user_id, str):
            raise ConfigurationError(f"user_id must be a string, got {type(user_id).__name__}")
        messages = to_messages(prompt)
        if template is not None:
            template.check(messages)
            instructions, tools, schema = template.text, template.tools, template.output_schema
        plan = await self._plans.plan(ctx)
        params = plan.params
        if max_tokens is not None or temperature is not None:
            params = replace(
                params,
                max_tokens=max_tokens or params.max_tokens,
                temperature=temperature if temperature is not None else params.temperature,
            )
            plan = replace(plan, params=params)
        if session_state is not None:
            claim_state(session_state, ctx)
        return CallState(
            ctx=ctx,
            plan=plan,
            messages=messages,
            instructions=instructions,
            tools=tuple(tools),
            schema=schema,
            template=template,
            session_state=session_state,
            user_id=user_id,
        )

    async def plan(self, ctx: ExecutionContext) -> CallPlan:
        """Resolve the hops for a context (tenant override > catalog > task default; then hints)."""
        return await self._plans.plan(ctx)


def _parsed(response: LLMResponse, schema: type[S]) -> S:
    parsed = response.metadata.get("parsed")
    if not isinstance(parsed, schema):  # pragma: no cover - the adapter guarantees it
        raise StructuredOutputError("no validated object", raw_text=response.content, schema_name=schema.__name__)
    return parsed
