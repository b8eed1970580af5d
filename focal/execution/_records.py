"""Build the `LLMCallRecord` of one attempt, priced against the premium tier, and hand it to the sink."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from focal.execution.types import Attempt, ExecutionContext, LLMResponse, TokenUsage
from focal.logging import get_logger
from focal.routing import ModelInfo, ModelRegistry, Tier
from focal.telemetry.records import LLMCallRecord

log = get_logger("focal.executor")


class CallRecorder:
    """Turns attempts into `LLMCallRecord`s for a sink (e.g. `TelemetryStore.record_call`); never raises."""

    def __init__(self, registry: ModelRegistry, sink: Callable[[LLMCallRecord], None]) -> None:
        self.registry = registry
        self.sink = sink
        self._premium: dict[str, ModelInfo] = {}

    def premium_of(self, model: ModelInfo) -> ModelInfo:
        """The premium-tier model of the same provider (the savings baseline); the model itself if none."""
        premium = self._premium.get(model.provider)
        if premium is None:
            has = self.registry.has(model.provider, Tier.PREMIUM)
            premium = self.registry.get(model.provider, Tier.PREMIUM) if has else model
            self._premium[model.provider] = premium
        return premium

    def record(
        self,
        ctx: ExecutionContext,
        *,
        call_id: str,
        task_type: str | None,
        source: str,
        reason: str,
        model: ModelInfo,
        attempt: Attempt,
        response: LLMResponse | None,
        streamed: bool = False,
        error: BaseException | None = None,
        cost: Decimal | None = None,
        priced_as: TokenUsage | None = None,
    ) -> None:
        """`cost`: what a failed attempt was charged when it is not on its error (an abandoned one);
        `priced_as`: the tokens that charge assumed when the real ones are unknown (the savings
        baseline prices the same tokens on the premium tier, so an unknown answer saves nothing false)."""
        premium_cost = Decimal(0)
        usage: TokenUsage | None = response.usage if response is not None else getattr(error, "usage", None)
        if response is not None:
            cost = response.cost
        elif cost is None:
            cost = getattr(error, "cost", None) or Decimal(0)
        basis = usage if usage is not None else (priced_as if cost else None)
        if basis is not None:
            cached = min(basis.cached_input, basis.input)
            premium_cost = self.registry.estimate_cost(
                self.premium_of(model), basis.input, basis.output, cached, min(basis.cache_write, basis.input - cached)
            )
        try:
            self.sink(
                call_record(
                    ctx,
                    call_id=call_id,
                    task_type=task_type,
                    source=source,
                    reason=reason,
                    model=model,
                    attempt=attempt,
                    response=response,
                    usage=usage,
                    cost=cost,
                    premium_cost=premium_cost,
                    streamed=streamed,
                )
            )
        except Exception as exc:  # telemetry never fails a call
            log.error("telemetry_record_failed", error=str(exc))


def call_record(
    ctx: ExecutionContext,
    *,
    call_id: str,
    task_type: str | None,
    source: str,
    reason: str,
    model: ModelInfo,
    attempt: Attempt,
    response: LLMResponse | None,
    usage: TokenUsage | None,
    cost: Decimal,
    premium_cost: Decimal,
    streamed: bool,
) -> LLMCallRecord:
    """One record per attempt. A failed attempt carries the tokens it is known to have consumed (an
    answer that did not validate, a filtered answer); otherwise, like a skipped one, zero."""
    return LLMCallRecord(
        call_id=call_id,
        run_id=ctx.run_id,
        tenant_id=ctx.tenant_id,
        agent_id=ctx.agent_id,
        session_id=ctx.session_id,
        workflow_name=ctx.workflow_name,
        step_name=ctx.step_name or "",
        task_type=task_type,
        provider=model.provider,
        tier=model.tier.value,
        model_id=model.id,
        resolution_source=source,
        resolution_reason=reason,
        input_tokens=usage.input if usage else 0,
        output_tokens=usage.output if usage else 0,
        cached_input_tokens=usage.cached_input if usage else 0,
        cache_write_tokens=usage.cache_write if usage else 0,
        reasoning_tokens=usage.reasoning if usage else 0,
        total_tokens=usage.total if usage else 0,
        cost_usd=cost,
        premium_cost_usd=premium_cost,
        latency_ms=attempt.latency_ms,
        ttft_ms=response.time_to_first_token_ms if response else None,
        status=attempt.status,
        error_class=attempt.error_class,
        error_message=attempt.error_message,
        attempt_number=attempt.attempt_number,
        fallback_hop=attempt.hop,
        fallback_cause=attempt.cause,
        breaker_state=attempt.breaker_state,
        streamed=streamed,
        finish_reason=response.finish_reason if response else None,
        request_id=response.request_id if response else None,
    )
