"""Build the `LLMCallRecord` of one attempt."""

from __future__ import annotations

from decimal import Decimal

from focal.execution.types import Attempt, ExecutionContext, LLMResponse
from focal.routing import ModelInfo
from focal.telemetry.records import LLMCallRecord, new_id


def call_record(
    ctx: ExecutionContext,
    *,
    task_type: str | None,
    source: str,
    reason: str,
    model: ModelInfo,
    attempt: Attempt,
    response: LLMResponse | None,
    premium_cost: Decimal,
    streamed: bool,
) -> LLMCallRecord:
    """One record per attempt; a failed or skipped attempt has zero tokens and cost."""
    usage = response.usage if response else None
    return LLMCallRecord(
        call_id=response.call_id if response else new_id(),
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
        reasoning_tokens=usage.reasoning if usage else 0,
        total_tokens=usage.total if usage else 0,
        cost_usd=response.cost if response else Decimal(0),
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
