"""Records ↔ table rows (money as integer nano-dollars)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from focal.telemetry.records import LLMCallRecord, WorkflowRunRecord

NANO = Decimal(10**9)


def to_nusd(amount: Decimal) -> int:
    """Dollars → nano-dollars (rounded half-even)."""
    return int((amount * NANO).to_integral_value())


def from_nusd(value: int | None) -> Decimal:
    """Nano-dollars → dollars."""
    return Decimal(value or 0) / NANO


def call_to_row(r: LLMCallRecord) -> dict[str, Any]:
    return {
        "attempt_id": r.attempt_id,
        "call_id": r.call_id,
        "run_id": r.run_id,
        "tenant_id": r.tenant_id,
        "agent_id": r.agent_id,
        "session_id": r.session_id,
        "workflow_name": r.workflow_name,
        "step_name": r.step_name,
        "task_type": r.task_type,
        "provider": r.provider,
        "tier": r.tier,
        "model_id": r.model_id,
        "resolution_source": r.resolution_source,
        "resolution_reason": r.resolution_reason,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cached_input_tokens": r.cached_input_tokens,
        "cache_write_tokens": r.cache_write_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "total_tokens": r.total_tokens,
        "cost_nusd": to_nusd(r.cost_usd),
        "premium_cost_nusd": to_nusd(r.premium_cost_usd),
        "latency_ms": r.latency_ms,
        "ttft_ms": r.ttft_ms,
        "status": r.status,
        "error_class": r.error_class,
        "error_message": r.error_message,
        "attempt_number": r.attempt_number,
        "fallback_hop": r.fallback_hop,
        "fallback_cause": r.fallback_cause,
        "breaker_state": r.breaker_state,
        "streamed": r.streamed,
        "finish_reason": r.finish_reason,
        "request_id": r.request_id,
        "created_at": r.created_at,
        "metadata": r.metadata or None,
    }


def row_to_call(row: Any) -> LLMCallRecord:
    m = row._mapping
    return LLMCallRecord(
        attempt_id=m["attempt_id"],
        call_id=m["call_id"],
        run_id=m["run_id"],
        tenant_id=m["tenant_id"],
        agent_id=m["agent_id"],
        session_id=m["session_id"],
        workflow_name=m["workflow_name"],
        step_name=m["step_name"],
        task_type=m["task_type"],
        provider=m["provider"],
        tier=m["tier"],
        model_id=m["model_id"],
        resolution_source=m["resolution_source"],
        resolution_reason=m["resolution_reason"],
        input_tokens=m["input_tokens"],
        output_tokens=m["output_tokens"],
        cached_input_tokens=m["cached_input_tokens"],
        cache_write_tokens=m["cache_write_tokens"],
        reasoning_tokens=m["reasoning_tokens"],
        total_tokens=m["total_tokens"],
        cost_usd=from_nusd(m["cost_nusd"]),
        premium_cost_usd=from_nusd(m["premium_cost_nusd"]),
        latency_ms=m["latency_ms"],
        ttft_ms=m["ttft_ms"],
        status=m["status"],
        error_class=m["error_class"],
        error_message=m["error_message"],
        attempt_number=m["attempt_number"],
        fallback_hop=m["fallback_hop"],
        fallback_cause=m["fallback_cause"],
        breaker_state=m["breaker_state"],
        streamed=m["streamed"],
        finish_reason=m["finish_reason"],
        request_id=m["request_id"],
        created_at=m["created_at"],
        metadata=m["metadata"] or {},
    )


def run_to_row(r: WorkflowRunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "tenant_id": r.tenant_id,
        "agent_id": r.agent_id,
        "session_id": r.session_id,
        "workflow_name": r.workflow_name,
        "status": r.status,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "steps": list(r.steps),
        "call_count": r.call_count,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cached_input_tokens": r.cached_input_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "total_tokens": r.total_tokens,
        "cost_nusd": to_nusd(r.cost_usd),
        "premium_cost_nusd": to_nusd(r.premium_cost_usd),
        "fallback_count": r.fallback_count,
        "error": r.error,
        "metadata": r.metadata or None,
    }


def row_to_run(row: Any) -> WorkflowRunRecord:
    m = row._mapping
    return WorkflowRunRecord(
        run_id=m["run_id"],
        tenant_id=m["tenant_id"],
        agent_id=m["agent_id"],
        session_id=m["session_id"],
        workflow_name=m["workflow_name"],
        status=m["status"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        steps=list(m["steps"] or []),
        call_count=m["call_count"],
        input_tokens=m["input_tokens"],
        output_tokens=m["output_tokens"],
        cached_input_tokens=m["cached_input_tokens"],
        reasoning_tokens=m["reasoning_tokens"],
        total_tokens=m["total_tokens"],
        cost_usd=from_nusd(m["cost_nusd"]),
        premium_cost_usd=from_nusd(m["premium_cost_nusd"]),
        fallback_count=m["fallback_count"],
        error=m["error"],
        metadata=m["metadata"] or {},
    )
