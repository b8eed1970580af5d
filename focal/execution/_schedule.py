"""Which attempt comes next: retry the same hop, move to the next one, or stop.

`AttemptSchedule` is an async iterator of `Slot`s over a call's hops. After each slot the executor
leaves the outcome in the call state (`last_error`, `attempts`); the schedule reads it when asked
for the next slot. A plain class rather than an async generator: it runs on every call, and it has
nothing to clean up when the caller stops early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from focal.execution.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetUnavailableError,
    ContentFiltered,
    ContextWindowExceeded,
    StructuredOutputError,
)
from focal.routing import ModelInfo
from focal.telemetry.records import CallStatus

if TYPE_CHECKING:
    from focal.execution._machinery import CallMachinery, CallState

__all__ = ["AttemptSchedule", "Slot"]

_FATAL = (AuthenticationError, BadRequestError, StructuredOutputError, BudgetUnavailableError)
"""Errors no retry or fallback can fix: they end the call at once."""


class Slot(NamedTuple):
    """One attempt the call may make."""

    model: ModelInfo
    hop: int
    number: int
    """The attempt number on this hop (1 = first try)."""
    cause: str | None
    """Why this hop is being tried (the previous hop's error class, `circuit_open`, `budget`)."""
    ticket: Any
    """The breaker's admission (hand it back with the attempt's result)."""


class AttemptSchedule:
    """The attempts of one call, in order; retries back off with the executor's sleep."""

    __slots__ = ("_breaker", "_cause", "_ex", "_floor", "_hop", "_number", "_pending", "_state")

    def __init__(self, executor: CallMachinery, state: CallState) -> None:
        self._ex = executor
        self._state = state
        self._hop = 0
        self._number = 0  # 0: the hop has not been entered yet
        self._cause: str | None = None
        self._floor = 0  # a context-window error: only larger windows may follow
        self._breaker: Any = None
        self._pending = -1  # len(attempts) when the last slot was handed out; -1: none outstanding

    def __aiter__(self) -> AttemptSchedule:
        return self

    async def __anext__(self) -> Slot:
        if self._pending >= 0:
            delay = self._judge()
            if delay is _DONE:
                raise StopAsyncIteration
            if delay is None:
                self._hop += 1
                self._number = 0
            else:
                await self._ex._sleep(delay)
                self._number += 1
        slot = self._next_slot()
        if slot is None:
            raise StopAsyncIteration
        return slot

    def _next_slot(self) -> Slot | None:
        ex, state = self._ex, self._state
        hops = state.plan.hops  # shared: a budget downgrade inserts a cheaper hop while we walk it
        while self._hop < len(hops):
            model = hops[self._hop]
            if self._number == 0:
                if model.context_window <= self._floor:
                    ex._skip(state, model, self._hop, self._cause, "context_window_too_small", None)
                    self._hop += 1
                    continue
                self._breaker = ex.breakers.get(model.breaker_key)
                self._number = 1
            ex._check_deadline(state, model)
            ticket = self._breaker.admit()
            if ticket is None:
                ex._skip(state, model, self._hop, self._cause, "circuit_open", self._breaker.state)
                self._cause = "circuit_open"
                self._hop += 1
                self._number = 0
                continue
            self._pending = len(state.attempts)
            state.last_error = None
            return Slot(model, self._hop, self._number, self._cause, ticket)
        return None

    def _judge(self) -> float | object | None:
        """The last slot's outcome: `_DONE` (answered), a delay (retry this hop), None (next hop).

        Raises:
            The attempt's error when nothing can fix it (auth, bad request, invalid structured output,
            a content filter without fallback).
        """
        state, before = self._state, self._pending
        self._pending = -1
        if len(state.attempts) == before:  # admission refused the slot without a record
            return None
        err = state.last_error
        if err is None:
            if state.attempts[-1].status == CallStatus.SKIPPED:  # the budget refused this hop
                self._cause = state.attempts[-1].cause or "budget"
                return None
            return _DONE
        if isinstance(err, _FATAL) or getattr(err, "tools_ran", False):
            err.attempts = list(state.attempts)  # type: ignore[union-attr]
            raise err
        ex = self._ex
        model = state.plan.hops[self._hop]
        if isinstance(err, ContextWindowExceeded):
            self._floor = max(self._floor, model.context_window)
            hops = state.plan.hops
            if not any(m.context_window > self._floor for m in hops[self._hop + 1 :]):
                bigger = ex.fallback.larger_window(ex.registry, model, hops)
                if bigger is not None:
                    hops.append(bigger)
        elif isinstance(err, ContentFiltered):
            if not ex.fallback.on_content_filter:
                err.attempts = list(state.attempts)  # type: ignore[attr-defined]
                raise err
        elif ex.retry.is_retryable(err) and self._number < ex.retry.max_attempts:
            delay = ex.retry.delay(self._number, err)
            remaining = state.ctx.remaining()
            if delay is not None and (remaining is None or delay < remaining):
                return delay
        self._cause = type(err).__name__
        return None


_DONE = object()
