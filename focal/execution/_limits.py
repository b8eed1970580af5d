"""`CostGuard`: per-step and per-run cost limits plus tenant budget reservations, per attempt."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from focal.execution.budgets import (
    BudgetManager,
    CostLimits,
    LimitAction,
    Reservation,
    estimate_call_cost,
    estimate_prompt_tokens,
)
from focal.execution.errors import BudgetExceededError, BudgetUnavailableError
from focal.execution.types import ExecutionContext, Message, TokenUsage
from focal.logging import get_logger
from focal.routing import ModelInfo, ModelRegistry, Tier

log = get_logger("focal.executor")

_MAX_TRACKED_RUNS = 10_000
_SETTLE_RETRY_DELAYS = (0.1, 0.5, 2.0, 5.0)
"""Seconds before each retry of a settle the database refused."""


@dataclass(slots=True)
class Hold:
    """What an admitted attempt holds until it is settled."""

    reservation: Reservation | None = None
    run_key: tuple[str, str] | None = None
    """(tenant, run id) whose spend holds `run_estimate`."""
    run_estimate: Decimal | None = None
    step: str | None = None
    step_limit: Decimal | None = None
    """The step's cost limit: the actual cost is checked against it when settled."""
    rounds: list[Hold] | None = None
    """What each later model request of a tool loop holds (admitted one by one as the loop goes on)."""
    amount: Decimal = Decimal(0)
    """The estimate admitted (held in the budget when there is one, checked against the limits)."""
    worst_tokens: TokenUsage | None = None
    """A round's worst case in tokens (its prompt and the whole output cap): what its hold prices."""

    @property
    def pending(self) -> bool:
        """Whether anything is held (settling an empty hold is a no-op)."""
        return (
            self.reservation is not None or self.run_key is not None or self.step_limit is not None or bool(self.rounds)
        )

    def with_rounds(self, tokens: TokenUsage) -> TokenUsage:
        """`tokens` plus the worst case of every later round of the tool loop."""
        for round_hold in self.rounds or ():
            if round_hold.worst_tokens is not None:
                tokens = tokens + round_hold.worst_tokens
        return tokens

    @property
    def estimate(self) -> Decimal:
        """The most this attempt was allowed to cost, its tool loop's later rounds included (0 when
        nothing was enforced)."""
        own = self.reservation.amount if self.reservation is not None else self.amount
        return own + sum((r.estimate for r in self.rounds), Decimal(0)) if self.rounds else own


class CostGuard:
    """Admits an attempt against limits and budgets before it is sent, and settles it after."""

    def __init__(self, registry: ModelRegistry, budgets: BudgetManager | None, limits: CostLimits) -> None:
        self.registry = registry
        self.budgets = budgets
        self.limits = limits
        self._run_spend: OrderedDict[tuple[str, str], Decimal] = OrderedDict()  # (tenant, run id): spend
        self._background: set[asyncio.Task[None]] = set()  # settles that must finish though their caller was cancelled

    @property
    def active(self) -> bool:
        """Whether anything is enforced (no estimate is made otherwise)."""
        limits = self.limits
        return (
            self.budgets is not None
            or limits.per_step_usd is not None
            or limits.per_run_usd is not None
            or bool(limits.steps)
        )

    async def admit(
        self,
        ctx: ExecutionContext,
        model: ModelInfo,
        messages: Sequence[Message],
        instructions: str | None,
        max_tokens: int,
        held: Decimal = Decimal(0),
    ) -> Hold:
        """Hold this attempt's estimated cost (`held`: what the same step call already holds, for a
        tool loop's later round: the step limit bounds the call as a whole).

        Raises:
            BudgetExceededError: a limit or budget refuses it (`scope`: step, run, day or month) and
                its action is not `warn`.
        """
        hold = Hold()
        if not self.active:
            return hold
        estimate = estimate_call_cost(self.registry, model, messages, max_tokens, instructions)
        hold.amount = estimate
        limits, run_id = self.limits, ctx.run_id
        step_limit = limits.step_limit(ctx.step_name)
        try:
            if step_limit is not None:
                if held + estimate > step_limit:
                    await self._refuse_unless_warn(
                        BudgetExceededError(
                            f"step {ctx.step_name!r} call on {model.ref} may cost up to "
                            f"${held + estimate:.6f}, over its limit ${step_limit}",
                            tenant_id=ctx.tenant_id,
                            scope="step",
                            limit_usd=step_limit,
                            estimate_usd=estimate,
                        )
                    )
                hold.step, hold.step_limit = ctx.step_name, step_limit
            if limits.per_run_usd is not None and run_id is not None:
                run_key = (ctx.tenant_id, run_id)  # run ids are the host's: never shared across tenants
                spent = self._run_spend.get(run_key, Decimal(0))
                if spent + estimate > limits.per_run_usd:
                    await self._refuse_unless_warn(
                        BudgetExceededError(
                            f"run {run_id} has spent ${spent:.6f}; a call on {model.ref} may cost up to "
                            f"${estimate:.6f}, over the per-run limit ${limits.per_run_usd}",
                            tenant_id=ctx.tenant_id,
                            scope="run",
                            limit_usd=limits.per_run_usd,
                            spent_usd=spent,
                            estimate_usd=estimate,
                        )
                    )
                self._run_spend[run_key] = spent + estimate  # provisional; replaced by the actual cost on settle
                self._run_spend.move_to_end(run_key)
                while len(self._run_spend) > _MAX_TRACKED_RUNS:
                    self._run_spend.popitem(last=False)
                hold.run_key, hold.run_estimate = run_key, estimate
            if self.budgets is not None:
                warned: set[str] = set()  # periods whose `warn` budget let this call past its limit
                while True:
                    try:
                        hold.reservation = await self._reserve(ctx.tenant_id, estimate, force=frozenset(warned))
                        break
                    except BudgetExceededError as err:
                        if err.scope in warned:  # pragma: no cover - a forced period never refuses
                            raise
                        await self._refuse_unless_warn(err)
                        # warned, not refused: held and charged all the same; the other periods still decide
                        warned.add(err.scope)
            return hold
        except BudgetExceededError:
            await self.settle(hold, Decimal(0))
            raise
        except BaseException:  # cancelled while reserving: give the run's provisional spend back
            self._forget_run_hold(hold)
            raise

    async def admit_round(
        self, hold: Hold, ctx: ExecutionContext, model: ModelInfo, messages: Sequence[Message], max_tokens: int
    ) -> None:
        """Hold the next model request of an attempt's tool loop (its messages have grown by the tool
        results) on top of `hold`; settling `hold` settles it too.

        Raises:
            BudgetExceededError: the budget or a limit refuses this round (the loop stops there).
        """
        round_hold = await self.admit(ctx, model, messages, None, max_tokens, held=hold.estimate)
        round_hold.worst_tokens = TokenUsage(input=estimate_prompt_tokens(messages), output=max_tokens)
        if hold.rounds is None:
            hold.rounds = []
        hold.rounds.append(round_hold)

    async def _refuse_unless_warn(self, err: BudgetExceededError) -> None:
        """Raise `err`, unless its limit's action is `warn`: then log it and let the call go on (every
        other limit is still checked, and the spend is still held and recorded)."""
        if await self.action_for(err) is not LimitAction.WARN:
            raise err
        log.warning("budget_limit_warning", scope=err.scope, detail=str(err))

    async def action_for(self, err: BudgetExceededError) -> LimitAction:
        """The configured action for a refusal: the cost limits' for step/run, else that of the tenant's
        budget for the period that refused (abort if it is gone meanwhile)."""
        if err.scope in ("step", "run"):
            return self.limits.on_limit
        if self.budgets is None:
            return LimitAction.ABORT
        budgets = await self.budgets.budgets(err.tenant_id)
        return next((b.on_limit for b in budgets if b.period.value == err.scope), LimitAction.ABORT)

    def cheaper(self, model: ModelInfo) -> ModelInfo | None:
        """The next cheaper tier's model on the same provider, if any."""
        tier: Tier | None = model.tier.lower()
        while tier is not None:
            if self.registry.has(model.provider, tier):
                return self.registry.get(model.provider, tier)
            tier = tier.lower()
        return None

    async def _reserve(
        self, tenant_id: str, estimate: Decimal, *, force: frozenset[str] = frozenset()
    ) -> Reservation | None:
        """`BudgetManager.reserve`, shielded: if the caller is cancelled meanwhile, a reservation that
        still commits is released as soon as it does (nothing was sent on its behalf)."""
        assert self.budgets is not None
        reserving = self._in_background(self.budgets.reserve(tenant_id, estimate, force=force))
        try:
            return await asyncio.shield(reserving)
        except asyncio.CancelledError:
            # stays in the background set until its release is under way (no moment without either)
            reserving.remove_done_callback(self._background.discard)
            reserving.add_done_callback(self._release_orphan)
            raise
        except BudgetExceededError:
            raise
        except Exception as exc:  # the database: fail closed, typed, nothing sent
            raise BudgetUnavailableError(
                f"tenant {tenant_id!r}: the budget could not be held ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}); the call is refused",
                tenant_id=tenant_id,
            ) from exc

    def _release_orphan(self, reserving: asyncio.Task[Reservation | None]) -> None:
        try:
            if reserving.cancelled() or reserving.exception() is not None or self.budgets is None:
                return
            reservation = reserving.result()
            if reservation is not None:
                self._in_background(self.budgets.settle(reservation, Decimal(0)))
        finally:
            self._background.discard(reserving)

    def _in_background(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _forget_run_hold(self, hold: Hold) -> None:
        if hold.run_key is not None and hold.run_estimate is not None and hold.run_key in self._run_spend:
            self._run_spend[hold.run_key] -= hold.run_estimate
        hold.run_key = hold.run_estimate = None

    async def drain(self) -> None:
        """Wait for the reservations and settles still finishing in the background (before closing)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def settle_safely(self, hold: Hold | None, actual: Decimal) -> None:
        """`settle`, carried through even if the caller is cancelled meanwhile: money must never stay
        held because a caller went away. A no-op for an empty hold (no await)."""
        if hold is None or not hold.pending:
            return
        await asyncio.shield(self._in_background(self.settle(hold, actual)))

    async def settle(self, hold: Hold, actual: Decimal) -> None:
        """Replace what was held with the actual cost (0 releases it); a tool loop's round holds are
        released, `actual` covering the whole attempt. Never raises."""
        rounds, hold.rounds = hold.rounds, None
        for round_hold in rounds or ():
            await self.settle(round_hold, Decimal(0))
        if hold.run_key is not None and hold.run_estimate is not None and hold.run_key in self._run_spend:
            self._run_spend[hold.run_key] += actual - hold.run_estimate
        hold.run_key = hold.run_estimate = None
        if hold.step_limit is not None and actual > hold.step_limit:  # the prompt was longer than estimated
            log.warning("step_cost_over_limit", step=hold.step, cost_usd=str(actual), limit_usd=str(hold.step_limit))
        hold.step_limit = None
        if self.budgets is not None and hold.reservation is not None:
            reservation, hold.reservation = hold.reservation, None
            try:
                await self.budgets.settle(reservation, actual)
            except Exception as exc:  # never lose the answer over bookkeeping; settling again is safe
                log.warning("budget_settle_retrying", error=str(exc), tenant_id=reservation.tenant_id)
                self._in_background(self._settle_later(reservation, actual))

    async def _settle_later(self, reservation: Reservation, actual: Decimal) -> None:
        """Retry a failed settle with back-off (a lease settles once, so a retry never double counts);
        after the last try the lease's expiry releases the hold."""
        assert self.budgets is not None
        for delay in _SETTLE_RETRY_DELAYS:
            await asyncio.sleep(delay)
            try:
                await self.budgets.settle(reservation, actual)
                return
            except Exception as exc:
                last = exc
        log.error("budget_settle_failed", error=str(last), tenant_id=reservation.tenant_id, cost_usd=str(actual))

    def end_run(self, run_id: str, tenant_id: str) -> Decimal:
        """Forget one tenant's spend tracking of a run (run ids are the host's: another tenant may use
        the same one); returns what it spent."""
        return self._run_spend.pop((tenant_id, run_id), Decimal(0))
