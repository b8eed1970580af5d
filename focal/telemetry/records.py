"""Telemetry records: one `LLMCallRecord` per attempt, one `WorkflowRunRecord` per workflow run."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from focal._ids import new_id

__all__ = ["CallStatus", "LLMCallRecord", "WorkflowRunRecord", "new_id"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_MONEY = ("cost_usd", "premium_cost_usd")


def _to_json(record: Any, times: tuple[str, ...]) -> dict[str, Any]:
    out = asdict(record)
    for key in _MONEY:
        out[key] = str(out[key])
    for key in times:
        out[key] = out[key].isoformat() if out[key] is not None else None
    return out


def _from_json(cls: Any, data: dict[str, Any], times: tuple[str, ...]) -> Any:
    clean = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}  # unknown keys are ignored
    for key in _MONEY:
        clean[key] = Decimal(clean.get(key, "0"))
    for key in times:
        if isinstance(clean.get(key), str):
            clean[key] = dt.datetime.fromisoformat(clean[key])
    return cls(**clean)


class CallStatus:
    """Values of `LLMCallRecord.status`."""

    SUCCESS = "success"
    ERROR = "error"
    SKIPPED = "skipped"  # breaker open, budget refused, or deadline passed: no request was sent


@dataclass(slots=True, kw_only=True)
class LLMCallRecord:
    """One attempt at an LLM call (a retry or a fallback hop is another record).

    `attempt_id` identifies the record; `call_id` is shared by every attempt of one call (and is the
    answering response's `call_id`), so the retries and fallback hops of a call can be grouped.
    """

    attempt_id: str = field(default_factory=new_id)
    call_id: str = field(default_factory=new_id)
    run_id: str | None = None
    tenant_id: str
    agent_id: str
    session_id: str | None = None
    workflow_name: str | None = None
    step_name: str
    task_type: str | None = None
    provider: str
    tier: str
    model_id: str
    resolution_source: str | None = None
    resolution_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    """Input tokens written to the provider's prompt cache (part of `input_tokens`)."""
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    premium_cost_usd: Decimal = Decimal(0)
    """What the same tokens would have cost on the premium tier of the same provider."""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: str = CallStatus.SUCCESS
    error_class: str | None = None
    error_message: str | None = None
    attempt_number: int = 1
    """1-based attempt on this hop (retries increase it)."""
    fallback_hop: int = 0
    """0 = the resolved model, 1 = first fallback, ..."""
    fallback_cause: str | None = None
    """Why this hop was reached (error class of the previous hop, or `circuit_open`)."""
    breaker_state: str | None = None
    streamed: bool = False
    finish_reason: str | None = None
    request_id: str | None = None
    created_at: dt.datetime = field(default_factory=_now)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def savings_usd(self) -> Decimal:
        """premium_cost_usd - cost_usd (the README documents the formula)."""
        return self.premium_cost_usd - self.cost_usd

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (Decimal and datetime kept; see `to_json_dict` for JSON)."""
        return asdict(self)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe dict: Decimal → str, datetime → ISO 8601."""
        return _to_json(self, ("created_at",))

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> LLMCallRecord:
        """Inverse of `to_json_dict` (unknown keys are ignored). A record written before attempts had
        their own id (one call id per attempt) keeps its call id as its attempt id: replays stay idempotent."""
        if "attempt_id" not in data and "call_id" in data:
            data = {**data, "attempt_id": data["call_id"]}
        return _from_json(cls, data, ("created_at",))


@dataclass(slots=True, kw_only=True)
class WorkflowRunRecord:
    """One workflow run (one turn): status, steps, totals, fallbacks and savings."""

    run_id: str = field(default_factory=new_id)
    tenant_id: str
    agent_id: str
    session_id: str | None = None
    workflow_name: str
    status: str = "running"  # running | completed | error | cancelled
    started_at: dt.datetime = field(default_factory=_now)
    ended_at: dt.datetime | None = None
    steps: list[str] = field(default_factory=list)
    call_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    premium_cost_usd: Decimal = Decimal(0)
    fallback_count: int = 0
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def savings_usd(self) -> Decimal:
        """premium_cost_usd - cost_usd."""
        return self.premium_cost_usd - self.cost_usd

    def add_call(self, call: LLMCallRecord) -> None:
        """Fold one call record into the totals."""
        self.call_count += 1
        self.input_tokens += call.input_tokens
        self.output_tokens += call.output_tokens
        self.cached_input_tokens += call.cached_input_tokens
        self.reasoning_tokens += call.reasoning_tokens
        self.total_tokens += call.total_tokens
        self.cost_usd += call.cost_usd
        self.premium_cost_usd += call.premium_cost_usd
        if call.fallback_hop > 0 and call.status == CallStatus.SUCCESS:
            self.fallback_count += 1
        if call.step_name not in self.steps:
            self.steps.append(call.step_name)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return _to_json(self, ("started_at", "ended_at"))

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> WorkflowRunRecord:
        """Inverse of `to_json_dict`."""
        return _from_json(cls, data, ("started_at", "ended_at"))
